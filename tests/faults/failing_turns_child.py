"""Child process of the failing-turns test: ``record --duration 4`` whose every turn fails from 1 s on.

Run as ``python failing_turns_child.py DB``. From one second in, the alarm engine's once-a-turn tick raises on
every turn (as a rule that cannot judge the session any more would); the rest of ``record`` is untouched.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def main(db: str) -> int:
    """Record 4 s whose turns all fail after the first second; the exit code of ``record``."""
    from monitor.alarms.engine import AlarmEngine
    from monitor.cli import main as cli

    original = AlarmEngine.tick
    started = time.monotonic()

    def fails_after_a_second(self: AlarmEngine, now: float, session: Any) -> None:
        if time.monotonic() - started > 1.0:
            raise RuntimeError("the alarm engine cannot judge this turn")
        original(self, now, session)

    AlarmEngine.tick = fails_after_a_second  # type: ignore[method-assign]
    return cli(["record", "--db", db, "--speed", "10", "--duration", "4", "--nurse", "RN"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
