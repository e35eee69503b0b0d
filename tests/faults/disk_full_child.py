"""Child process of the disk-full test: records while the file-size limit makes every write fail.

Run as ``python disk_full_child.py DB``. The process ignores SIGXFSZ so that writes past the
limit fail with EFBIG instead of killing it, records a simulated session at 60x with the pleth,
then lowers its own RLIMIT_FSIZE (the disk is "full"), keeps recording for a few wall seconds,
raises the limit again (space came back) and closes the session. It prints one JSON line: what
the source produced, what the recorder reported while the disk was full, and how it ended.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import threading
import time
from pathlib import Path

from drivers.simulated import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import parse_plan
from monitor.readings import Parameter
from monitor.recorder import Recorder, RecorderUpdate
from monitor.store import Store

FULL_FOR_S = 3.0
START = 1_790_000_000.0


def main(db_path: Path) -> dict[str, object]:
    """Record through a disk-full spell; return what was produced and seen."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    store = Store(db_path)
    source = SimulatedSource(scenario="normal", seed=5, speed=60.0, pleth=True, start_time=START)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None,
                                    plan=parse_plan("baseline:5,infusion:40,recovery:30"), autopilot=True,
                                    nurse="RN", alarms=AlarmEngine())
    produced = {"numerics": 0, "pleth": 0}
    during: dict[str, object] = {"storage_ok": [], "max_pending": 0, "alarms": []}
    full = threading.Event()
    lock = threading.Lock()

    def listen(update: RecorderUpdate) -> None:
        with lock:
            for r in update.readings:
                produced["pleth" if r.parameter is Parameter.PLETH else "numerics"] += 1
            if full.is_set():
                during["storage_ok"].append(update.status.storage_ok)  # type: ignore[attr-defined]
                during["max_pending"] = max(int(during["max_pending"]), update.status.pending_rows)  # type: ignore[arg-type]
                during["alarms"].extend(  # type: ignore[attr-defined]
                    str(c.get("condition")) for c in update.alarm_changes)

    recorder.add_listener(listen)
    recorder.start()
    time.sleep(1.5)  # some data on disk first
    stored_before = store_count(db_path, recorder.session.id)
    # The disk is full: no file of this process may grow (or be written) past one byte.
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
    full.set()
    time.sleep(FULL_FOR_S)
    stored_while_full = store_count(db_path, recorder.session.id)
    # Space is back.
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    full.clear()
    time.sleep(2.5)
    recorder.stop()
    store.close()
    with lock:
        return {
            "session_id": recorder.session.id,
            "produced": produced,
            "stored_before": stored_before,
            "stored_while_full": stored_while_full,
            "updates_while_full": len(during["storage_ok"]),  # type: ignore[arg-type]
            "storage_failing_updates": sum(1 for ok in during["storage_ok"] if not ok),  # type: ignore[attr-defined]
            "max_pending_while_full": during["max_pending"],
            "alarm_conditions_while_full": during["alarms"],
            "alarm_engine": recorder.alarms is not None,
            "end_status": recorder.end_status,
            "error": None if recorder.error is None else repr(recorder.error),
        }


def store_count(db_path: Path, session_id: str) -> int:
    """Readings committed so far, seen through a separate read-only connection."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM readings WHERE session_id = ?", [session_id]).fetchone()[0])
    finally:
        conn.close()


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))), flush=True)
