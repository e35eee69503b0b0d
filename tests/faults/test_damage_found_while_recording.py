"""A page damaged in place by the disk, with nothing else about the file changed, found while recording.

An opening no longer reads the whole file when this program left it whole and nothing changed it since: such a
page is found by the check the recording runs beside itself. The storage alarm then names the damage and the
recovery command, and nothing more is written into the file. What was found outlives the recording: its close
noted the damaged file as left whole, and every later command used it (a sign-off went into it).
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.cli import EXIT_ERROR, main
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.store import CorruptDatabase, Store
from monitor.store.open_marks import NOTE_NAME
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


def _left_whole_by_this_version(db_path: Path) -> str:
    """A recorded database closed by this version (no log left beside it); the recorded session's id."""
    session_id = record_simulated(db_path, plan="baseline:2,infusion:40,recovery:20")
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert not Path(f"{db_path}-wal").exists()
    return session_id


def _record_until_the_damage_is_found(store: Store) -> tuple[Recorder, dict[str, str]]:
    """Record into ``store`` until the storage alarm rises; the recorder (stopped, the store closed) and the alarms'
    messages by condition."""
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
    return recorder, raised


def test_a_page_the_disk_damaged_is_found_beside_the_recording_and_alarmed(
    db_path: Path, file_checks: list[tuple[str, bool]]
) -> None:
    _left_whole_by_this_version(db_path)
    _rot_a_page(db_path)

    file_checks.clear()
    store = Store(db_path)
    assert file_checks == []  # nothing said the file changed: the recording starts at once
    recorder, raised = _record_until_the_damage_is_found(store)
    # Found by the check beside the recording (the writes may meet the page first: said the same way).
    assert recorder.writer.file_check is not None and recorder.writer.file_check.damage is not None
    assert "is damaged" in raised["storage_failed"], raised
    assert f"infusion-monitor recover {db_path}" in raised["storage_failed"], raised


def _refused_as_damaged(db_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """The command ends as every refusal of a damaged file does: one line naming the damage and the recovery."""
    assert main([*argv, "--db", str(db_path)]) == EXIT_ERROR, argv
    err = capsys.readouterr().err
    assert err.startswith(f"infusion-monitor: error: the database {db_path} is damaged ("), err
    assert f"`infusion-monitor recover {db_path} NEW.db`" in err, err


def test_what_the_recording_found_outlives_its_close(
    db_path: Path, file_checks: list[tuple[str, bool]], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = _left_whole_by_this_version(db_path)
    _rot_a_page(db_path)
    _record_until_the_damage_is_found(Store(db_path))
    assert not (Path(f"{db_path}.locks") / NOTE_NAME).exists(), "the close noted the damaged file as left whole"

    damaged = os.stat(db_path)
    file_checks.clear()
    for readonly in (False, True):
        with pytest.raises(CorruptDatabase):
            Store(db_path, readonly=readonly)
    assert len(file_checks) == 2  # each open read the file whole again
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", "pin-of-a-physician")
    capsys.readouterr()
    _refused_as_damaged(db_path, ["sessions"], capsys)
    _refused_as_damaged(db_path, ["sign-off", session_id[:8], "--user", "doc", "--comment", "ok"], capsys)
    _refused_as_damaged(db_path, ["export", session_id[:8], "--format", "json", "--out",
                                  str(db_path.with_name("export.json"))], capsys)
    after = os.stat(db_path)
    assert (after.st_size, after.st_mtime_ns) == (damaged.st_size, damaged.st_mtime_ns), "written into"
    assert not db_path.with_name("export.json").exists()


def test_a_whole_copy_put_back_is_used_again(db_path: Path, file_checks: list[tuple[str, bool]]) -> None:
    _left_whole_by_this_version(db_path)
    whole = db_path.with_name("whole-copy.db")
    shutil.copy2(db_path, whole)
    _rot_a_page(db_path)
    _record_until_the_damage_is_found(Store(db_path))
    with pytest.raises(CorruptDatabase):
        Store(db_path)

    shutil.copyfile(whole, db_path)
    file_checks.clear()
    with Store(db_path) as store:
        assert store.checked_whole is not None  # read whole, found whole
    with Store(db_path) as store:
        assert store.checked_whole is None  # and left whole again: the next open reads only what it uses
    assert len(file_checks) == 1


def test_verify_of_a_page_damaged_in_place_names_the_damage_and_the_recovery(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The open does not read the file whole (it looks as it was left); verify's own whole read meets the page."""
    _left_whole_by_this_version(db_path)
    _rot_a_page(db_path)
    capsys.readouterr()
    _refused_as_damaged(db_path, ["verify"], capsys)
    with pytest.raises(CorruptDatabase):  # and the next open reads it whole and refuses it too
        Store(db_path, readonly=True)
