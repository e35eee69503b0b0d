"""Start-up: from starting the process to the first painted window.

``infusion-monitor gui`` runs in a fresh process with ``INFUSION_MONITOR_REPORT_FIRST_PAINT=1``;
the window then prints ``first-paint <seconds since process start>`` after its first paint.
The figure reported is the time from just before the process is spawned to that line arriving,
which includes the interpreter's own start; the process's own count is shown beside it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Result, median

TARGET_S = 2.0
TIMEOUT_S = 30.0


def _one(folder: Path) -> tuple[float, float]:
    env = dict(os.environ, INFUSION_MONITOR_REPORT_FIRST_PAINT="1", HOME=str(folder),
               XDG_DATA_HOME=str(folder / "data"), XDG_CONFIG_HOME=str(folder / "config"))
    command = [sys.executable, "-m", "monitor.cli", "gui", "--db", str(folder / "startup.db"), "--nurse", "RN"]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert process.stdout is not None
        deadline = start + TIMEOUT_S
        while time.perf_counter() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("first-paint "):
                return time.perf_counter() - start, float(line.split()[1])
        raise RuntimeError("the window never reported its first paint")
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
        _one(folder)
        for _ in range(repeat):
            seen, reported = _one(folder)
            outside.append(seen)
            inside.append(reported)
    value = median(outside)
    return [Result("start-up to first painted window", value * 1000, "ms", f"<= {TARGET_S * 1000:g} ms",
                   value <= TARGET_S, f"process's own count {median(inside) * 1000:.0f} ms",
                   [x * 1000 for x in outside])]
