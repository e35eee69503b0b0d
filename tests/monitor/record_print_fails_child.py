"""Child process: ``record`` whose printing of alarm changes fails from 1 s on (an exception in its listener)."""

from __future__ import annotations

import sys
import time


def main(db: str) -> int:
    """Record a desaturation; the exit code of ``record``."""
    from monitor.alarms import engine
    from monitor.cli import main as cli

    original = engine.describe_change
    started = time.monotonic()

    def fails_later(previous: object, change: object) -> str | None:
        if time.monotonic() - started > 1.0:
            raise RuntimeError("cannot describe this change")
        return original(previous, change)  # type: ignore[arg-type]

    engine.describe_change = fails_later  # type: ignore[assignment]
    return cli(["record", "--db", db, "--scenario", "desaturation", "--speed", "120", "--duration", "14",
                "--plan", "baseline:1,infusion:40,recovery:30", "--nurse", "RN"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
