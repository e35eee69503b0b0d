"""Child process of the disk-full tests: records while the disk is full, then while space is back.

Run as ``python disk_full_child.py DB MODE PLETH``. MODE ``fill``: the database lives on a small
real filesystem (a tmpfs the test mounted) and this process fills it with a filler file until the
kernel says ENOSPC, keeps recording, then deletes the filler (space came back). MODE ``rlimit``
(where mounting is not allowed): the process lowers its own RLIMIT_FSIZE instead, ignoring
SIGXFSZ so that writes past the limit fail with EFBIG. PLETH is ``1`` or ``0``. A simulated session
at 60x is recorded throughout; the process prints one JSON line: what the source produced, what
the recorder reported while the disk was full, and how it ended.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path

from drivers.core.readings import Parameter
from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import parse_plan
from monitor.recorder import Recorder, RecorderUpdate
from monitor.store import Store

FULL_FOR_S = 3.0
PLETH_HOLD_S = 60.0
START = 1_790_000_000.0


def fill(folder: Path) -> Path:
    """Write a filler file until the filesystem is full (ENOSPC even for 512 bytes); returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 16, 4096, 512):
            chunk = b"\0" * size
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


def main(db_path: Path, mode: str, pleth: bool) -> dict[str, object]:
    """Record through a disk-full spell; return what was produced and seen."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    store = Store(db_path)
    source = SimulatedSource(scenario="normal", seed=5, speed=60.0, pleth=pleth, start_time=START)
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
                    c.condition for c in update.alarm_changes)

    # One minute of waveform may be held (the default is ten): at 60x the three-second spell is three
    # minutes of signal, so the oldest pleth must be given up - and the numerics never.
    recorder.writer.pleth_hold_s = PLETH_HOLD_S
    recorder.add_listener(listen)
    recorder.start()
    time.sleep(1.5)  # some data on disk first
    stored_before = store_count(db_path, recorder.session.id)
    filler = None
    if mode == "fill":
        filler = fill(db_path.parent)
    else:
        # The disk is full: no file of this process may grow (or be written) past one byte.
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
    full.set()
    # During an acknowledge and a note: the audit and the timeline must survive the full disk too.
    acknowledged = recorder.submit("acknowledge", "RN")
    noted = recorder.submit("note", "RN", text="written while the disk was full")
    time.sleep(FULL_FOR_S)
    stored_while_full = store_count(db_path, recorder.session.id)
    # Space is back.
    if filler is not None:
        filler.unlink()
    else:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    full.clear()
    time.sleep(3.0)
    alive_before_stop = recorder.running
    recorder.stop()
    store.close()
    wal = db_path.with_name(db_path.name + "-wal")
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
            "alive_before_stop": alive_before_stop,
            "commands_ok": acknowledged.done() and noted.done() and noted.exception() is None,
            "wal_bytes_at_end": wal.stat().st_size if wal.exists() else 0,
            "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
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
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1")), flush=True)
