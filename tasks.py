#!/usr/bin/env python3
"""Set up and run Infusion Monitor with nothing but Python 3.11+.

    python3 tasks.py run  [app options]     create .venv if needed, open the window (simulated monitor)
    python3 tasks.py test [pytest options]  create .venv if needed, run the whole test suite headless

The virtual environment is rebuilt only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _say(text: str) -> None:
    print(f"tasks.py: {text}", flush=True)


def ensure_environment() -> None:
    """Create the virtual environment and install the app with its test tools when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs under whatever python3 the user has
        sys.exit(f"Infusion Monitor needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PYTHON.exists():
        _say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    _say("installing Infusion Monitor and its test tools (first run takes a minute)")
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted + "\n")


def run(args: list[str]) -> int:
    """Open the window with the simulated monitor (options pass through)."""
    ensure_environment()
    if not any(a == "--driver" or a.startswith("--driver=") for a in args):
        args = ["--driver", "simulated", *args]
    return subprocess.call([str(PYTHON), "-m", "monitor.cli", "gui", *args], cwd=ROOT)


def test(args: list[str]) -> int:
    """Run every test headless, then check the import contract (only ui/ imports Qt)."""
    ensure_environment()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    code = subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env)
    if code != 0:
        return code
    return subprocess.call([str(BIN / "lint-imports")], cwd=ROOT, env=env)


def main(argv: list[str]) -> int:
    """Dispatch ``run`` or ``test``."""
    commands = {"run": run, "test": test}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
