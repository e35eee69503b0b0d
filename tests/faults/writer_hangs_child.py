"""Child process: ``record`` whose store-writer thread hangs for 10 s once (a disk write that never returns)."""

from __future__ import annotations

import sys
import threading
import time


def main(db: str) -> int:
    """Record 16 s with one 10 s hang of the writer, 3 s in; the exit code of ``record``."""
    from monitor.cli import main as cli
    from monitor.store import writer

    original = writer.apply_operation
    started = time.monotonic()
    hung = [False]

    def sometimes_hangs(store: object, session_id: str, op: object) -> None:
        if not hung[0] and time.monotonic() - started > 3.0 and threading.current_thread().name == "store-writer":
            hung[0] = True
            print(f"-- writer hangs at {time.monotonic() - started:.1f} s", flush=True)
            time.sleep(10.0)
            print(f"-- writer runs again at {time.monotonic() - started:.1f} s", flush=True)
        original(store, session_id, op)  # type: ignore[arg-type]

    writer.apply_operation = sometimes_hangs  # type: ignore[assignment]
    return cli(["record", "--db", db, "--speed", "10", "--duration", "16", "--nurse", "RN"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
