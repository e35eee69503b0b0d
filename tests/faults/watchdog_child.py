"""Child process of the watchdog test: ``record`` whose recorder thread stalls for 5 s once.

Run as ``python watchdog_child.py DB``. One loop turn, two seconds in, blocks for five seconds (as
a hung driver call or a stuck lock would); the rest of ``record`` is untouched.
"""

from __future__ import annotations

import sys
import time


def main(db: str) -> int:
    """Record 10 s with one 5 s stall; the exit code of ``record``."""
    from monitor.cli import main as cli
    from monitor.recorder import Recorder

    original = Recorder._check_nibp_overdue
    started = time.monotonic()
    stalled = [False]

    def sometimes_hangs(self: Recorder) -> None:
        if not stalled[0] and time.monotonic() - started > 2.0:
            stalled[0] = True
            time.sleep(5.0)
        original(self)

    Recorder._check_nibp_overdue = sometimes_hangs  # type: ignore[method-assign]
    return cli(["record", "--db", db, "--speed", "10", "--duration", "10", "--nurse", "RN"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
