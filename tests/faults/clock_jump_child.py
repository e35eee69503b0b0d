"""Child process of the clock-jump test: ``record`` from a real pty device while the wall clock is set.

Run as ``python clock_jump_child.py DB``. Before anything of the monitor is imported, this process
replaces ``time.time`` with the system clock plus an offset that a thread changes like someone
setting the clock by hand: +1 h 2.5 s after the session began, then -1 h (two hours back) 2.5 s later (counted from
the session's start, not the process's: on a busy machine starting up may take longer than 5 s). A Masimo
emulator plays onto a new pty at real-time rate; ``infusion-monitor record`` reads it for 8 s.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time

_real_time = time.time
_offset = [0.0]


def _faked_time() -> float:
    return _real_time() + _offset[0]


time.time = _faked_time  # the wall clock of this whole process, as libfaketime would fake it


def _session_begun(db: str) -> bool:
    """Whether ``record`` has begun its session in ``db`` (read only, beside the recording)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
            return bool(conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
    except sqlite3.Error:
        return False  # not made yet, or its tables not yet


def _set_clock(db: str) -> None:
    deadline = time.monotonic() + 120
    while not _session_begun(db) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.5)
    _offset[0] = 3600.0
    time.sleep(2.5)
    _offset[0] = -3600.0


def main(db: str) -> int:
    """Record for 8 s through two clock steps; the exit code of ``record``."""
    from drivers.emulation.device import Emulator
    from drivers.emulation.registry import make_device
    from drivers.transport.device_ports import PtyDevicePort
    from monitor.cli import main as cli

    port = PtyDevicePort()
    stop = threading.Event()
    emulator = Emulator(make_device("masimo-ascii", scenario="normal", seed=3), speed=1.0)
    device = threading.Thread(target=emulator.run, args=(port, None, stop), daemon=True)
    device.start()
    threading.Thread(target=_set_clock, args=(db,), daemon=True).start()
    try:
        return cli(["record", "--db", db, "--driver", "masimo-ascii", "--port", port.name, "--duration", "8",
                    "--nurse", "RN"])
    finally:
        stop.set()
        device.join(5)
        port.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
