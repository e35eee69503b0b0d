"""The store writer holds what it cannot write, in order, within a memory bound; the recorder survives it all."""

from __future__ import annotations

import io
import math
import os
import shutil
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from drivers.core.readings import Parameter, Reading
from drivers.simulated.driver import SimulatedSource
from monitor import integrity
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmState, Escalation, Priority
from monitor.app.sessions import ending_notes
from monitor.cli import main
from monitor.config import data_dir
from monitor.keys import read_keys
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import EventKind
from monitor.store import Store, held_file
from monitor.store import writer as writer_module
from monitor.store.held_file import pending_recovery_files, read_recovery_file, write_held, write_recovery_file
from monitor.store.operations import AuditEntry, Batch, Operation, StoreCall
from monitor.store.writer import StoreWriter
from tests.conftest import leave_unfinished
from tests.monitor.writing import (
    T0,
    Switch,
    block_copy_beside,
    committed_writer,
    heart_rate,
    recorded_without_a_store,
    stored_times,
    unblock_copy_beside,
)


def _numeric(t: float, value: float = 70.0) -> Reading:
    return Reading(t, Parameter.HR, value, "test")


def _pleth(t: float) -> Reading:
    return Reading(t, Parameter.PLETH, 0.5, "test")


def test_held_rows_and_audit_are_written_in_order_when_the_store_returns(store: Store, db_path: Path) -> None:
    session_id = store.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="")
    switch = Switch()
    writer = StoreWriter(db_path, session_id, opener=switch, retry_interval_s=0.0)
    switch.broken = True
    writer.put(Batch(readings=(_numeric(T0 + 1),)))
    writer.put(AuditEntry(T0 + 1.5, "acknowledge", "RN", session_id, {"alarm": "a1"}))
    writer.put(Batch(readings=(_numeric(T0 + 2),)))
    assert not writer.pump()
    status = writer.status()
    assert not status.ok and "full" in (status.error or "") and status.held_rows == 3
    switch.broken = False
    assert writer.pump()
    assert writer.status().ok and writer.status().stored_numerics == 2
    writer.close()
    assert [r.t for r in store.readings(session_id)] == [T0 + 1, T0 + 2]
    [entry] = [a for a in store.audit_log(session_id) if a["action"] == "acknowledge"]
    assert entry["at"] == T0 + 1.5  # stamped when it happened, not when the disk came back


def test_the_waveform_is_given_up_first_and_counted(store: Store, db_path: Path) -> None:
    session_id = store.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="")
    switch = Switch()
    switch.broken = True
    # 2 s of waveform may be held (150 samples), and 10 numerics.
    writer = StoreWriter(db_path, session_id, opener=switch, retry_interval_s=0.0, pleth_hold_s=2.0,
                         max_held_numerics=10)
    for second in range(8):
        t = T0 + second
        writer.put(Batch(readings=(_numeric(t), *(_pleth(t + i / 75) for i in range(75)))))
        writer.pump()  # fails: from the first failure on, memory is bounded
    status = writer.status()
    assert status.dropped_pleth == 8 * 75 - 150 and status.dropped_numerics == 0
    for second in range(8, 14):
        writer.put(Batch(readings=(_numeric(T0 + second),)))
    assert writer.status().dropped_numerics == 4  # past the numerics bound, the oldest go
    switch.broken = False
    assert writer.pump()
    writer.close()
    assert [r.t for r in store.readings(session_id)] == [T0 + s for s in range(4, 14)]
    times, _ = store.waveform(session_id)
    assert len(times) == 150 and times[0] >= T0 + 6  # the newest two seconds of signal


def test_a_full_disk_during_acknowledge_and_notes_does_not_end_monitoring(store: Store, db_path: Path) -> None:
    source = SimulatedSource(scenario="desaturation", seed=2, speed=math.inf, start_time=T0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30),
                                    nurse="RN", alarms=AlarmEngine())
    switch = Switch()
    recorder.writer = StoreWriter(db_path, recorder.session.id, opener=switch, retry_interval_s=0.0)
    for _ in range(20):
        recorder.step()
    switch.broken = True
    futures = [recorder.submit("acknowledge", "RN"), recorder.submit("note", "RN", text="full disk")]
    for _ in range(40):
        recorder.step()
    recorder.flush()  # unpaced turns are quicker than the flush interval
    recorder.step()
    assert all(f.done() for f in futures)
    assert futures[1].exception() is None
    status = recorder.status()
    assert not status.storage_ok and status.pending_rows > 0
    switch.broken = False
    recorder.run(until=lambda r: True)
    assert recorder.end_status == "closed"
    events = store.events(recorder.session.id)
    conditions = [e.detail.get("condition") for e in events if e.kind is EventKind.TECHNICAL]
    assert "storage_write_failed" in conditions and "storage_restored" in conditions
    assert any(e.kind is EventKind.NOTE and e.detail["text"] == "full disk" for e in events)
    # Each commit while a recovery file exists notes how far it is drained, the last one perhaps after the close.
    actions = [a["action"] for a in store.audit_log(recorder.session.id) if a["action"] != "held_rows_drained"]
    assert "acknowledge" in actions and actions[-1] == "session_closed"


def test_an_error_in_a_turn_is_recorded_and_the_loop_goes_on(store: Store) -> None:
    source = SimulatedSource(seed=1, speed=math.inf, start_time=T0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30))
    calls = {"n": 0}

    def broken_listener(update: object) -> None:
        calls["n"] += 1
        raise RuntimeError("display broke")

    def flaky_nibp() -> None:
        if 3 <= calls["n"] <= 6:
            calls["n"] += 1  # the listener is not reached in a failed turn
            raise OSError("port went away mid-turn")

    recorder.add_listener(broken_listener)
    recorder._run_nibp_schedule = flaky_nibp  # type: ignore[method-assign]
    recorder.run(until=lambda r: calls["n"] >= 30)
    assert recorder.end_status == "closed" and recorder.error is None
    [error] = [e for e in store.events(recorder.session.id) if e.detail.get("condition") == "recorder_error"]
    assert "port went away" in error.detail["error"]
    assert store.reading_count(recorder.session.id) > 0


def test_rows_left_at_the_end_go_to_a_recovery_file(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = recorded_without_a_store(store, db_path, monkeypatch, 30)
    assert recorder.end_status == "unfinished"
    assert recorder.recovery_file is not None
    kept = [
        f"rows that could not be written to the database are kept in {recorder.recovery_file}",
        "write them into it once it can be written again: 'Write waiting rows' in the window's session list, or "
        f"infusion-monitor write-held {recorder.recovery_file} --db {db_path}",
    ]
    assert ending_notes(recorder) == kept
    on_server = "they are not on the clinic's server either, and the nurse station says so: write-held with " \
                "--server (or the server configured) sends them there too; else the next recording with --server does"
    assert ending_notes(recorder, to_server=True) == [*kept, on_server]
    lines = Path(recorder.recovery_file).read_text().splitlines()
    assert any('"session_closed"' in line for line in lines)
    held_hr = sum(line.count('"hr"') for line in lines)
    assert held_hr >= 25
    before_hr = len(list(store.readings(recorder.session.id, [Parameter.HR])))
    out = io.StringIO()
    assert main(["write-held", recorder.recovery_file, "--db", str(db_path)], out=out) == 0, out.getvalue()
    assert store.status_of(store.session_row(recorder.session.id)) == "closed"
    assert len(list(store.readings(recorder.session.id, [Parameter.HR]))) == before_hr + held_hr
    assert store.audit_log(recorder.session.id)[-1]["action"] == "session_closed"
    assert main(["write-held", recorder.recovery_file, "--db", str(db_path)], out=io.StringIO()) == 1  # once only


def test_rows_that_no_recovery_file_could_take_are_said_to_be_lost(
    store: Store, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = tmp_path / "nowhere"
    nowhere.write_text("not a folder")  # nothing can be made under it
    monkeypatch.setattr(held_file, "places_for", lambda _db: (nowhere / "beside", nowhere / "data"))
    recorder = recorded_without_a_store(store, db_path, monkeypatch, 10)
    assert recorder.end_status == "unfinished" and recorder.recovery_file is None
    assert recorder.rows_not_written > 10
    assert ending_notes(recorder) == [
        f"{recorder.rows_not_written} rows could not be written to the database nor to a recovery file (no folder "
        "could be written): they are lost"
    ]


def test_alarms_held_in_a_recovery_file_come_back_as_the_same_records(store: Store, db_path: Path) -> None:
    session_id = store.create_session(started_at=T0, patient_id=None, driver="simulated", port=None, plan="")
    alarm = AlarmRecord(
        "a1", "spo2_low", "spo2", Priority.HIGH, AlarmKind.PHYSIOLOGICAL, "SpO2 86 < 90 %", T0 + 5,
        ended_at=T0 + 20, limit=90.0, peak_value=86.0,
        escalations=(Escalation(T0 + 10, Priority.MEDIUM, Priority.HIGH, "unacknowledged for 30 s"),),
        acknowledged_at=T0 + 21, acknowledged_by="RN", state=AlarmState.ENDED,
    )
    ops: list[Operation] = [Batch(alarms=(alarm,)), AuditEntry(T0 + 22, "acknowledge", "RN", session_id)]
    path = write_recovery_file(db_path, session_id, ops, store.keys)
    assert path is not None
    assert read_recovery_file(path) == ops
    leave_unfinished(db_path, session_id)  # a recovery file is of a recording that ended
    assert write_held(db_path, path).rows == 2
    assert store.alarms(session_id) == [alarm]


def test_a_recovery_file_is_private_and_keeps_the_patients_identifiers_sealed(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written with a permissive umask, the file was readable by every user, with the MRN, name and birth date
    in plain text; the database itself keeps them encrypted."""
    session_id = store.create_session(started_at=T0, patient_id=None, driver="simulated", port=None, plan="")
    ops: list[Operation] = [
        StoreCall("create_patient", ("MRN-RF-3141", "Jane Recovery", "1970-01-02"), {"patient_id": "p-1"}),
        StoreCall("assign_patient", (session_id, "p-1")),
        AuditEntry(T0 + 1, "identify_patient", "RN", session_id, {"patient_key": "p-1"}),
    ]
    old = os.umask(0)
    try:
        path = write_recovery_file(db_path, session_id, ops, store.keys)
    finally:
        os.umask(old)
    assert path is not None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = Path(path).read_text(encoding="utf-8")
    assert "MRN-RF-3141" not in text and "Jane Recovery" not in text and "1970-01-02" not in text
    with pytest.raises(ValueError, match="key file is needed"):
        read_recovery_file(path)
    assert read_recovery_file(path, store.keys) == ops
    leave_unfinished(db_path, session_id)  # a recovery file is of a recording that ended
    assert write_held(db_path, path).rows == len(ops)
    patient = store.patient_row("p-1")
    assert patient is not None and (patient["mrn"], patient["name"]) == ("MRN-RF-3141", "Jane Recovery")


def test_a_recovery_file_that_cannot_go_beside_the_database_goes_to_the_data_folder_and_is_found_there(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    """The database's folder gone with its disk: the rows went to the temporary folder, which some systems empty
    at a restart (the likely next step); the data folder is kept. Resuming and closing look there too."""
    session_id = store.create_session(started_at=T0, patient_id=None, driver="simulated", port=None, plan="")
    ops: list[Operation] = [Batch(readings=(heart_rate(T0 + 1),)), AuditEntry(T0 + 2, "acknowledge", "RN", session_id)]
    unreachable = tmp_path / "unmounted" / db_path.name
    path = write_recovery_file(unreachable, session_id, ops, store.keys)
    assert path is not None
    assert Path(path).parent == data_dir()
    assert stat.S_IMODE(data_dir().stat().st_mode) == 0o700
    assert pending_recovery_files(unreachable, session_id) == [Path(path)]
    assert read_recovery_file(path, store.keys) == ops


def test_a_lost_log_is_written_back_once_though_another_connection_still_holds_it(store: Store, db_path: Path) -> None:
    """After the write-back the writer records in rollback mode; the deleted log that another connection of the
    process (the server link's) still holds open belongs to the replaced file, not to a new fault. Taken for one,
    the file was written back every few seconds, each time under that connection."""
    session_id = store.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="")
    writer = StoreWriter(db_path, session_id)
    beside = sqlite3.connect(db_path)  # another connection of this process, opened before the fault
    try:
        writer.put(Batch(readings=(_numeric(T0 + 1),)))
        assert writer.pump(force=True)
        beside.execute("SELECT COUNT(*) FROM sessions").fetchone()
        os.unlink(f"{db_path}-wal")
        incident = writer.check_file(force=True)
        assert incident is not None and incident.what == "left without its write-ahead log"
        assert incident.written_to == str(db_path)
        writer.put(Batch(readings=(_numeric(T0 + 2),)))
        assert writer.pump(force=True)
        assert writer.check_file(force=True) is None
        assert len(writer.status().incidents) == 1
    finally:
        beside.close()
        writer.close()
    with Store(db_path) as reopened:
        assert [r.t for r in reopened.readings(session_id)] == [T0 + 1, T0 + 2]


def test_a_written_back_file_put_in_wal_mode_by_another_start_has_its_log_watched(db_path: Path) -> None:
    """The written-back file is in rollback mode until a start of this program (a listing) puts it in WAL mode;
    the writer's connection then commits into a log. Unwatched, that log deleted took 570 of 807 readings
    reported stored with it, and nothing was said."""
    with committed_writer(db_path) as (session_id, writer):
        os.unlink(db_path)
        assert writer.check_file(force=True) is not None  # written back, in rollback mode
        with Store(db_path):  # another start: into WAL mode
            pass
        writer.put(Batch(readings=(heart_rate(T0 + 2),)))
        assert writer.pump(force=True)
        assert writer.check_file(force=True) is None  # nothing wrong yet: the log is the writer's
        writer.put(Batch(readings=(heart_rate(T0 + 3),)))
        assert writer.pump(force=True)  # committed into the log
        os.unlink(f"{db_path}-wal")
        incident = writer.check_file(force=True)
        assert incident is not None and incident.what == "left without its write-ahead log"
        assert incident.written_to == str(db_path)
    assert stored_times(db_path, session_id) == [T0 + 1, T0 + 2, T0 + 3]


def test_a_database_deleted_with_its_folder_is_written_back_into_the_folder_made_again(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    db_path = folder / "monitor.db"
    with committed_writer(db_path) as (session_id, writer):
        shutil.rmtree(folder)
        incident = writer.check_file(force=True)
        assert incident is not None and incident.what == "deleted with its folder"
        assert incident.written_to == str(db_path)
        assert "deleted with its folder; its complete data were written back" in incident.message(db_path)
        writer.put(Batch(readings=(heart_rate(T0 + 2),)))
        assert writer.pump(force=True)
        assert len(writer.status().incidents) == 1
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert stored_times(db_path, session_id) == [T0 + 1, T0 + 2]


def test_a_write_back_that_keeps_failing_is_one_incident_and_its_success_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every failed attempt was a new incident: two a second while the folder stayed away, each a new alarm
    and a timeline event, for as long as the session lasted."""
    monkeypatch.setattr(writer_module, "WRITE_BACK_RETRY_S", 0.3)
    _no_fallback(tmp_path, monkeypatch)
    folder = tmp_path / "data"
    db_path = folder / "monitor.db"
    with committed_writer(db_path) as (session_id, writer):
        shutil.rmtree(folder)
        folder.write_text("a file where the folder was")  # the folder cannot be made again while this stands
        attempts = [writer.check_file(force=True) for _ in range(3)]
        assert attempts[0] is not None and attempts[0].written_to is None
        assert attempts[1:] == [None, None]  # not tried again before the retry time
        time.sleep(0.35)
        again = writer.check_file(force=True)
        assert again is not None and again.written_to is None  # tried, failed again: no news
        writer.put(Batch(readings=(heart_rate(T0 + 2),)))
        assert not writer.pump(force=True)  # held: nothing goes into a log nobody else can find
        assert [i.written_to for i in writer.status().incidents] == [None]
        folder.unlink()
        time.sleep(0.35)
        assert writer.pump(force=True)
        assert [i.written_to for i in writer.status().incidents] == [None, str(db_path)]
    assert stored_times(db_path, session_id) == [T0 + 1, T0 + 2]


def _fallback_in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the writer falls back to (the data folder, else the temporary one), made ``folder`` for the
    test."""
    monkeypatch.setattr(writer_module, "fallback_folders", lambda: (folder,))
    return folder


def _no_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No folder to fall back to: nothing can be written to either (a file stands where their parent should be)."""
    (tmp_path / "nowhere").write_text("not a folder")
    monkeypatch.setattr(writer_module, "fallback_folders",
                        lambda: (tmp_path / "nowhere" / "data", tmp_path / "nowhere" / "tmp"))


def test_a_database_that_cannot_be_written_back_beside_goes_to_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the recording went on into the deleted file, the only holder of the whole database, and closing it
    at the end lost everything: "closed: 1269 readings stored", and no file held any of them."""
    fallback = _fallback_in(tmp_path / "tmp", monkeypatch)
    db_path = tmp_path / "data" / "monitor.db"
    with committed_writer(db_path) as (session_id, writer):
        block_copy_beside(db_path, monkeypatch)
        os.unlink(db_path)
        incident = writer.check_file(force=True)
        assert incident is not None and incident.written_to is not None
        moved = Path(incident.written_to)
        assert moved.parent == fallback and moved.name.startswith("monitor.db.recovered-")
        assert f"the complete data are now in {moved}" in incident.message(db_path)
        writer.put(Batch(readings=(heart_rate(T0 + 2),)))
        assert writer.pump(force=True)
    assert stat.S_IMODE(moved.stat().st_mode) == 0o600
    assert stored_times(moved, session_id) == [T0 + 1, T0 + 2]
    assert not db_path.exists()


def test_rows_are_held_while_the_database_is_only_in_the_open_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "WRITE_BACK_RETRY_S", 0.2)
    _no_fallback(tmp_path, monkeypatch)
    db_path = tmp_path / "monitor.db"
    with committed_writer(db_path, retry_interval_s=0.0) as (session_id, writer):
        block_copy_beside(db_path, monkeypatch)
        os.unlink(db_path)  # its index stays: nothing else tells that the file is gone
        assert writer.check_file(force=True) is not None
        writer.put(Batch(readings=(heart_rate(T0 + 2),)))
        assert not writer.pump(force=True)  # before: committed into the deleted file
        assert writer.held_rows() == 1 and not writer.status().ok
        unblock_copy_beside(monkeypatch)
        time.sleep(0.25)
        again = writer.check_file(force=True)
        assert again is not None and again.written_to == str(db_path)
        assert writer.pump(force=True)
        assert [i.written_to for i in writer.status().incidents] == [None, str(db_path)]
    assert stored_times(db_path, session_id) == [T0 + 1, T0 + 2]


def test_a_database_deleted_just_before_the_writer_stops_is_written_back(db_path: Path) -> None:
    with committed_writer(db_path) as (session_id, writer):
        os.unlink(db_path)
        assert writer.stop(drain_s=1.0) == 0  # before: closed without a look, and the data went with the file
    assert stored_times(db_path, session_id) == [T0 + 1]


def test_a_key_file_deleted_under_the_writer_is_written_back_and_said_once(own_key_file: Path, db_path: Path) -> None:
    key_file = own_key_file
    with committed_writer(db_path) as (session_id, writer):
        fingerprint = read_keys(key_file).fingerprint
        assert writer.check_held_files(force=True) is None
        shutil.rmtree(key_file.parent)
        said = writer.check_held_files(force=True)
        assert said is not None and "was deleted; the keys in use were written back" in said
        assert writer.check_held_files(force=True) is None
        writer.put(Batch(readings=(heart_rate(T0 + 2),)))
        assert writer.pump(force=True)
        assert writer.status().key_incidents == (said,)
    assert read_keys(key_file).fingerprint == fingerprint
    with Store(db_path) as reopened:  # the next start finds the keys the database was sealed with
        assert integrity.verify(reopened.db.conn, reopened.keys).ok
        assert [r.t for r in reopened.readings(session_id)] == [T0 + 1, T0 + 2]


def test_an_alarm_change_reaches_the_disk_at_once_not_with_the_next_commit(db_path: Path) -> None:
    """An alarm shown (and rung for) less than one commit interval before a crash was in no record: a batch holding
    only alarm changes waited for the next commit. With a commit interval of 120 s, only waking at once gets it there
    within the 20 s this waits (readings handed over with it ride along)."""
    with committed_writer(db_path, commit_interval_s=120.0) as (session_id, writer):
        writer.start()
        alarm = AlarmRecord("a1", "hr_low", "hr", Priority.HIGH, AlarmKind.PHYSIOLOGICAL, "HR 41 < 50 /min", T0 + 2,
                            limit=50.0, peak_value=41.0)
        writer.put(Batch(readings=(heart_rate(T0 + 2),), alarms=(alarm,)))
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            with Store(db_path, readonly=True) as reader:
                if reader.alarms(session_id):
                    break
            time.sleep(0.05)
        with Store(db_path, readonly=True) as reader:
            stored = [a.id for a in reader.alarms(session_id)]
        assert writer.stop() == 0
    assert stored == ["a1"]
