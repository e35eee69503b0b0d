"""What keeping a held outage in its recovery file costs: the file written whole (at the first failed write, or when
adding to it failed) against one second's operations added to it, for holds of one minute to eight hours.

Prints medians (not a timed unit test). Run: ``.venv/bin/python -m benchmarks.recovery_file``.
The database and its key file go to a temporary folder, never the user's.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path

from benchmarks.common import median, time_it

#: Numeric values a monitor sends in a second (HR, SpO2, PR, RR and the rest), one operation a second.
VALUES_PER_SECOND = 12
HOLDS_S = (60, 3600, 8 * 3600)


def _refusing(path: Path) -> object:
    raise sqlite3.OperationalError("database or disk is full")


def main() -> None:
    """Measure and print each figure with its median."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["INFUSION_MONITOR_KEY_FILE"] = str(Path(folder) / "keys" / "monitor.key")
        from drivers.core.readings import Parameter, Reading
        from monitor.store import Store
        from monitor.store.held_file import read_held_file
        from monitor.store.operations import Batch
        from monitor.store.writer import StoreWriter

        def second(t: float) -> Batch:
            return Batch(readings=tuple(Reading(t + i / VALUES_PER_SECOND, Parameter.HR, 70.0, "bench")
                                        for i in range(VALUES_PER_SECOND)))

        db = Path(folder) / "monitor.db"
        with Store(db) as store:
            session_id = store.create_session(started_at=0.0, patient_id=None, driver="b", port=None, plan="")
            keys = store.keys
        for hold_s in HOLDS_S:
            writer = StoreWriter(db, session_id, opener=_refusing, retry_interval_s=0.0)  # type: ignore[arg-type]
            writer.keys = keys
            for t in range(hold_s):
                writer.put(second(float(t)))
            assert not writer.pump(force=True)  # refused: the writer holds it
            whole = []
            for _ in range(3):
                if writer.spill_path is not None:
                    writer.spill_path.unlink()
                    writer.spill_path = None  # written whole, as at the first failure
                whole.append(time_it(writer.spill))
                assert writer.spill_path is not None
            size = writer.spill_path.stat().st_size
            added = []
            t = float(hold_s)
            for _ in range(20):
                writer.put(second(t))
                t += 1.0
                added.append(time_it(writer.spill))
            started = time.perf_counter()
            held = read_held_file(writer.spill_path, keys)
            read_s = time.perf_counter() - started
            assert sum(op.rows() for op in held.ops) == (hold_s + 20) * VALUES_PER_SECOND
            length = f"{hold_s // 3600} h" if hold_s >= 3600 else f"{hold_s // 60} min"
            print(f"hold of {length} ({size / 1e6:.1f} MB): written whole median {median(whole) * 1000:.1f} ms; "
                  f"one second added median {median(added) * 1000:.2f} ms ({median(whole) / median(added):,.0f}x "
                  f"less); read and checked for write-held {read_s * 1000:.0f} ms")
            writer.spill_path.unlink()
            writer.close()


if __name__ == "__main__":
    main()
