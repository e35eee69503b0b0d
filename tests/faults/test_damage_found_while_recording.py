"""A page damaged in place by the disk, with nothing else about the file changed, found while recording.

An opening no longer reads the whole file when this program left it whole and nothing changed it since: such a
page is found by the check the recording runs beside itself. The storage alarm then names the damage and the
recovery command, and nothing more is written into the file.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import record_simulated
from tests.faults.helpers import until

PAGE = 4096


def _rot_a_page(path: Path) -> None:
    """Random bytes over a page in the middle, the file's size and modification time kept as they were."""
    before = os.stat(path)
    rng = random.Random(7)
    with open(path, "r+b") as handle:
        handle.seek((before.st_size // PAGE) // 2 * PAGE)
        handle.write(bytes(rng.randrange(256) for _ in range(PAGE)))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_page_the_disk_damaged_is_found_beside_the_recording_and_alarmed(
    db_path: Path, file_checks: list[tuple[str, bool]]
) -> None:
    record_simulated(db_path, plan="baseline:2,infusion:40,recovery:20")
    Store(db_path).close()  # left whole by this version
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert not Path(f"{db_path}-wal").exists()
    _rot_a_page(db_path)

    file_checks.clear()
    store = Store(db_path)
    assert file_checks == []  # nothing said the file changed: the recording starts at once
    source = SimulatedSource(scenario="normal", seed=4, speed=20.0, start_time=1_790_000_000.0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None,
                                    plan=parse_plan("baseline:5,infusion:40,recovery:30"), autopilot=True,
                                    nurse="RN", alarms=AlarmEngine())
    lock = threading.Lock()
    raised: dict[str, str] = {}

    def listen(update: Any) -> None:
        with lock:
            for change in update.alarm_changes:
                raised.setdefault(change.condition, change.message)

    recorder.add_listener(listen)
    recorder.start()
    try:
        until(lambda: "storage_failed" in raised, 60, "the storage alarm")
    finally:
        recorder.stop()
        store.close()
    # Found by the check beside the recording (the writes may meet the page first: said the same way).
    assert recorder.writer.file_check is not None and recorder.writer.file_check.damage is not None
    assert "is damaged" in raised["storage_failed"], raised
    assert f"infusion-monitor recover {db_path}" in raised["storage_failed"], raised
