"""Start-up: from starting the process to the first painted window.

``infusion-monitor gui --user`` runs in a fresh process with ``INFUSION_MONITOR_REPORT_FIRST_PAINT=1``,
signed in to an account made beforehand (so no first-run dialog waits for a person); the window
then prints ``first-paint <seconds since process start>`` after its first paint.
The figure reported is the time from just before the process is spawned to that line arriving,
which includes the interpreter's own start; the process's own count is shown beside it.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Result, median

TARGET_S = 2.0
TIMEOUT_S = 30.0


SECRET = "startup-benchmark-7391"


def _environment(folder: Path) -> dict[str, str]:
    return dict(os.environ, INFUSION_MONITOR_REPORT_FIRST_PAINT="1", HOME=str(folder),
                XDG_DATA_HOME=str(folder / "data"), XDG_CONFIG_HOME=str(folder / "config"),
                INFUSION_MONITOR_SECRET=SECRET, INFUSION_MONITOR_KEY_FILE=str(folder / "monitor.key"))


def _first_account(folder: Path) -> None:
    """The first account (an admin), as `users add` makes it on a new database."""
    secret = folder / "secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    subprocess.run([sys.executable, "-m", "monitor.cli", "users", "add", "--db", str(folder / "startup.db"),
                    "--role", "admin", "--new-secret-file", str(secret), "RN"],
                   check=True, env=_environment(folder), capture_output=True, timeout=TIMEOUT_S)


def _one(folder: Path) -> tuple[float, float]:
    command = [sys.executable, "-m", "monitor.cli", "gui", "--db", str(folder / "startup.db"), "--user", "RN"]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=_environment(folder))
    try:
        assert process.stdout is not None
        deadline = start + TIMEOUT_S
        with selectors.DefaultSelector() as waiting:
            waiting.register(process.stdout, selectors.EVENT_READ)
            while time.perf_counter() < deadline:
                if not waiting.select(timeout=max(0.0, deadline - time.perf_counter())):
                    break
                line = process.stdout.readline()
                if not line:
                    break
                if line.startswith("first-paint "):
                    return time.perf_counter() - start, float(line.split()[1])
        raise RuntimeError(f"the window did not report its first paint within {TIMEOUT_S:g} s")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(repeat: int) -> list[Result]:
    """Median over ``repeat`` fresh processes (after one warm-up that fills the OS file cache)."""
    outside: list[float] = []
    inside: list[float] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _first_account(folder)
        _one(folder)
        for _ in range(repeat):
            seen, reported = _one(folder)
            outside.append(seen)
            inside.append(reported)
    value = median(outside)
    return [Result("start-up to first painted window", value * 1000, "ms", f"<= {TARGET_S * 1000:g} ms",
                   value <= TARGET_S, f"process's own count {median(inside) * 1000:.0f} ms",
                   [x * 1000 for x in outside])]
