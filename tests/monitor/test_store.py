"""Storage: schema and migrations, WAL, append-only audit, batches, crash and resume."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from monitor.alarms.model import AlarmState, Priority
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import MIGRATIONS, SCHEMA_VERSION, SessionNotFound, Store, StoreError
from tests.conftest import held_open

T0 = 1_800_000_000.0


def test_new_database_is_migrated_in_wal_mode(store: Store) -> None:
    assert store.user_version() == SCHEMA_VERSION == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"patients", "sessions", "readings", "waveforms", "events", "alarms", "audit"} <= set(
        store.db.table_names()
    )


def test_a_start_waits_to_put_a_file_in_wal_mode_while_another_process_writes_it_in_rollback_mode(
    db_path: Path
) -> None:
    """A recording's written-back file is in rollback mode and committed to four times a second. SQLite does not
    wait for the lock of a switch into WAL mode: a listing started during a commit failed at once with
    "database is locked" (5 of 12 starts against a writer holding its lock half the time)."""
    Store(db_path).close()
    writer = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    commit = threading.Timer(0.5, writer.execute, ["COMMIT"])
    try:
        writer.execute("PRAGMA journal_mode = DELETE")
        writer.execute("CREATE TABLE scratch (x)")
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO scratch VALUES (1)")
        commit.start()
        started = time.monotonic()
        with Store(db_path) as store:
            waited = time.monotonic() - started
            assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        commit.cancel()
        commit.join()
        writer.close()
    assert waited >= 0.4
    assert db_path.read_bytes()[18:20] == b"\x02\x02"


def test_reopening_does_not_migrate_again(db_path: Path) -> None:
    Store(db_path).close()
    with Store(db_path) as again:
        assert again.user_version() == SCHEMA_VERSION


def test_newer_schema_is_refused_with_a_clear_message(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(db_path)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_refused_open_and_a_close_on_a_failing_disk_leave_nothing_of_the_file_open(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each sign-in or unlock tried on a disk that fails opens the database anew: a refusal (its key file cannot be
    read) must close what it opened, and so must closing a store whose file cannot be read any more; otherwise the
    descriptors and the mapping pile up, and the disk cannot be taken out."""
    from monitor.store import own_keys, witness

    Store(db_path).close()

    def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(own_keys, "keys_for_writing", failing)
        with pytest.raises(StoreError, match="Input/output error"):
            Store(db_path)
    assert held_open(str(db_path)) == []
    store = Store(db_path)
    assert held_open(str(db_path)) != []

    def unreadable(*_args: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(witness, "reached", unreadable)
    store._noted_seq = -2  # as if something was written since the last note
    store.close()
    assert held_open(str(db_path)) == []
    store.close()  # idempotent


def test_garbage_file_is_reported_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a database"):
        Store(bad)


def test_patient_identifiers_live_apart_from_sessions(store: Store) -> None:
    pid = store.create_patient("MRN-0042", name="Ada Example", birth_date="1970-02-03")
    assert store.create_patient("MRN-0042") == pid
    sid = store.create_session(started_at=T0, patient_id=pid, driver="simulated", port=None, plan="p")
    row = store.session_row(sid)
    assert "MRN-0042" not in repr(row)
    assert "Ada" not in repr(row)
    assert len(sid) == 32 and sid != pid


def test_batch_writes_numerics_waveforms_events_and_missing_values(store: Store) -> None:
    sid = store.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="p")
    readings = [
        Reading(T0 + 1, Parameter.HR, 72.0, "dev"),
        Reading(T0 + 1, Parameter.SPO2, None, "dev", frozenset({Flag.SENSOR_OFF})),
        *[Reading(T0 + 1 + i / 75, Parameter.PLETH, float(i), "dev") for i in range(75)],
    ]
    event = SessionEvent(T0 + 2, EventKind.NOTE, Phase.SETUP, "RN", {"text": "calm"})
    store.write_batch(sid, readings, [event], session_update={"phase": "baseline"})
    stored = list(store.readings(sid))
    assert [(r.parameter, r.value) for r in stored] == [(Parameter.HR, 72.0), (Parameter.SPO2, None)]
    assert stored[1].flags == frozenset({Flag.SENSOR_OFF})
    times, values = store.waveform(sid)
    assert len(values) == 75
    assert values[10] == 10.0
    assert times[0] == pytest.approx(T0 + 1)
    assert times[-1] == pytest.approx(T0 + 1 + 74 / 75)
    [back] = store.events(sid)
    assert back.kind is EventKind.NOTE and back.user == "RN" and back.detail["text"] == "calm"
    assert store.session_row(sid)["phase"] == "baseline"


def test_failed_batch_writes_nothing(store: Store) -> None:
    sid = store.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="p")
    with pytest.raises(sqlite3.Error):
        store.write_batch(
            sid,
            [Reading(T0, Parameter.HR, 70.0, "d")],
            session_update={"no_such_column": 1},
        )
    assert store.reading_count(sid) == 0


def test_audit_log_is_append_only(store: Store) -> None:
    store.audit("limit_changed", user="admin", rule="spo2_low", value=91)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE audit SET user = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM audit")
    [entry] = store.audit_log()
    assert entry["user"] == "admin" and entry["action"] == "limit_changed"


def test_unknown_session_and_latest(store: Store) -> None:
    with pytest.raises(SessionNotFound, match="no sessions"):
        store.session_row("latest")
    first = store.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="p")
    second = store.create_session(started_at=T0 + 10, patient_id=None, driver="x", port=None, plan="p")
    assert store.session_row("latest")["id"] == second
    assert store.session_row(first[:8])["id"] == first
    with pytest.raises(SessionNotFound, match="no session with id 'zzz'"):
        store.session_row("zzz")


def _wait_for_rows(db_path: Path, minimum: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        if db_path.exists():
            try:
                with Store(db_path, readonly=True) as ro:
                    count = ro.db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
            except (StoreError, sqlite3.Error):
                count = 0
            if count >= minimum:
                return count
        time.sleep(0.1)
    raise AssertionError(f"only {count} readings appeared in {timeout} s")


def test_killed_recording_is_detected_as_unfinished_and_resumed_without_loss(db_path: Path) -> None:
    cmd = [sys.executable, "-m", "monitor.cli", "record", "--db", str(db_path), "--speed", "30",
           "--plan", "baseline:3,infusion:40,recovery:30", "--quiet", "--patient", "MRN-7"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Past the 3 min baseline (about 4 readings a second of session time), so the baseline exists.
        seen = _wait_for_rows(db_path, 900)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert seen >= 900

    with Store(db_path) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        [summary] = store.sessions()
        assert summary.status == "unfinished"
        before = store.reading_count(summary.id)
        assert before >= seen  # nothing that had been committed was lost
        phases_before = summary.phases_reached

    # Resume the same session headless for a little while.
    resume = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "record", "--db", str(db_path), "--resume", summary.id[:8],
         "--speed", "30", "--duration", "2", "--quiet", "--plan", "baseline:3,infusion:40,recovery:30"],
        capture_output=True, text=True, timeout=60,
    )
    assert resume.returncode == 0, resume.stderr
    with Store(db_path) as store:
        [after] = store.sessions()
        assert after.id == summary.id
        assert after.status == "closed"
        assert store.reading_count(after.id) > before
        assert set(phases_before) <= set(after.phases_reached)
        kinds = [e.kind for e in store.events(after.id)]
        assert EventKind.SESSION_RESUMED in kinds
        # The baseline taken before the kill was kept.
        assert store.session_row(after.id)["baseline"]


def test_killed_session_can_be_closed_instead(db_path: Path, accounts_in: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "record", "--db", str(db_path), "--speed", "30", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_rows(db_path, 30)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    from monitor.cli import main
    from tests.conftest import NURSE_SECRET

    accounts_in(db_path)
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    assert main(["close", "latest", "--db", str(db_path), "--user", "RN"]) == 0
    with Store(db_path) as store:
        [s] = store.sessions()
        assert s.status == "closed"
        assert store.reading_count(s.id) >= 30
        assert any(a["action"] == "session_closed_after_crash" for a in store.audit_log(s.id))
        # The timeline says it too (a report shows where the recording stopped, and who closed it), at the last
        # stored data, and the record still verifies with it.
        [closed] = [e for e in store.events(s.id) if e.kind is EventKind.CLOSED_AFTER_CRASH]
        assert closed.user == "RN" and closed.t == store.last_data_at(s.id)
        assert abs(closed.detail["closed_at"] - time.time()) < 600  # when it was closed, by the wall clock
    assert main(["verify", "--db", str(db_path)]) == 0


def test_a_session_that_crashed_after_completing_is_not_reopened_by_resume(
    db_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.cli import main
    from tests.conftest import NURSE_SECRET

    assert main(["record", "--db", str(db_path), "--speed", "max", "--quiet",
                 "--plan", "baseline:1,infusion:1,recovery:1"]) == 0
    with Store(db_path) as store:
        [s] = store.sessions()
        # As if the process had died between the complete event and closing the row.
        store.db.execute("UPDATE sessions SET status='recording', ended_at=NULL, owner_pid=999999999 WHERE id=?",
                         [s.id])
        assert store.sessions()[0].status == "unfinished"
    assert main(["record", "--db", str(db_path), "--resume", s.id, "--speed", "max", "--quiet"]) == 1
    with Store(db_path) as store:
        assert store.sessions()[0].status == "unfinished"  # untouched: it can still be closed
    # Where the database has accounts, closing needs a signed-in one (it ends someone else's session).
    accounts_in(db_path)
    assert main(["close", s.id, "--db", str(db_path)]) == 1
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    assert main(["close", s.id, "--db", str(db_path), "--user", "RN"]) == 0


def test_an_alarm_row_that_cannot_be_read_is_named_and_an_unknown_state_reads_as_open(store: Store) -> None:
    session_id = store.create_session(started_at=1000.0, patient_id=None, driver="simulated", port=None, plan="")
    columns = "id, session_id, condition, parameter, priority, kind, started_at, message, state, escalations"
    with store.transaction():
        store.db.execute(f"INSERT INTO alarms ({columns}) VALUES ('a1', ?, 'spo2_low', 'spo2', 'medium', "
                         "'physiological', 1001, 'SpO2 low', 'odd', '[]')", [session_id])
    (alarm,) = store.alarms(session_id)
    assert alarm.state is AlarmState.ACTIVE and alarm.priority is Priority.MEDIUM
    with store.transaction():
        store.db.execute("UPDATE alarms SET priority = 'urgent' WHERE id = 'a1'")
    with pytest.raises(StoreError, match=r"alarm a1 cannot be read.*urgent"):
        store.alarms(session_id)
