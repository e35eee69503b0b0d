"""A row the database refuses for what it holds (a constraint, text that is not UTF-8) is refused again at every try:
it is set aside in a file of its own with the reason, alarmed once, and every row before and after it is written.
The disk's own failures are still held and retried (tests/monitor/test_writer.py)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.core.readings import Parameter, Reading
from monitor.alarms.engine import AlarmEngine
from monitor.app.sessions import ending_notes
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Store, StoreError
from monitor.store.held_file import pending_recovery_files, read_held_file, write_held
from monitor.store.operations import Batch, StoreCall
from monitor.store.writer import StoreWriter
from tests.monitor.writing import T0, simulated_recorder


def _hr(t: float) -> Reading:
    return Reading(t, Parameter.HR, 70.0 + t - T0, "test")


def _new_session(db_path: Path) -> str:
    with Store(db_path) as store:
        return store.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="")


def _stored(db_path: Path, session_id: str) -> tuple[list[float], list[str]]:
    with Store(db_path, readonly=True) as reader:
        return ([r.t for r in reader.readings(session_id)],
                [str(e.detail.get("text")) for e in reader.events(session_id) if e.kind is EventKind.NOTE])


def _note(t: float, user: str, text: str) -> SessionEvent:
    return SessionEvent(t, EventKind.NOTE, Phase.SETUP, user, {"text": text})


def test_a_note_sqlite_cannot_encode_is_set_aside_and_the_rows_around_it_are_written(tmp_path: Path) -> None:
    db_path = tmp_path / "monitor.db"
    session_id = _new_session(db_path)
    writer = StoreWriter(db_path, session_id, retry_interval_s=0.0)
    # A name carrying a byte that is not UTF-8 (os.fsdecode of b"\xff"): SQLite cannot bind it.
    bad = _note(T0 + 1, "RN \udcff", "bad name")
    writer.put(Batch(readings=(_hr(T0 + 1),), events=(_note(T0 + 1, "RN A", "before"), bad)))
    writer.put(Batch(readings=(_hr(T0 + 2),), events=(_note(T0 + 2, "RN A", "after"),)))
    assert writer.pump(force=True)

    status = writer.status()
    assert status.ok and status.held_rows == 0
    assert _stored(db_path, session_id) == ([T0 + 1, T0 + 2], ["before", "after"])
    assert len(status.set_aside) == 1
    aside = status.set_aside[0]
    assert aside.rows == 1 and "surrogates not allowed" in aside.error
    assert aside.path == str(writer.set_aside_path)
    assert Path(aside.path).name.startswith(f"monitor.db.set-aside-{session_id[:8]}-")
    assert "set aside in" in aside.message() and "recording goes on" in aside.message()
    # Kept whole, with why: the very event, not a copy with the byte replaced.
    held = read_held_file(aside.path)
    assert len(held.ops) == 1 and isinstance(held.ops[0], Batch)
    assert held.ops[0].events == (bad,)
    lines = [json.loads(line) for line in Path(aside.path).read_text().splitlines()]
    assert [line["refused"] for line in lines if line.get("op") == "batch"] == [aside.error]
    # It holds nothing up: the session can be resumed or closed without it (it is not a recovery file).
    assert pending_recovery_files(db_path, session_id) == []
    writer.close()


def test_a_store_call_refused_by_a_constraint_is_set_aside_and_written_once_put_right(tmp_path: Path) -> None:
    db_path = tmp_path / "monitor.db"
    session_id = _new_session(db_path)
    writer = StoreWriter(db_path, session_id, retry_interval_s=0.0)
    writer.put(Batch(readings=(_hr(T0 + 1),)))
    # A session attached to a patient the database does not have: the foreign key refuses it, at every try.
    writer.put(StoreCall("assign_patient", (session_id, "patient-key-not-on-file")))
    writer.put(Batch(readings=(_hr(T0 + 2),)))
    writer.put(StoreCall("end_session", (session_id, "complete", T0 + 3)))
    assert writer.pump(force=True)
    writer.close()

    status = writer.status()
    assert status.ok and [(a.rows, a.error) for a in status.set_aside] == [
        (1, "IntegrityError: FOREIGN KEY constraint failed")]
    assert _stored(db_path, session_id)[0] == [T0 + 1, T0 + 2]
    with Store(db_path, readonly=True) as reader:
        row = reader.session_row(session_id)
        assert row["status"] == "complete" and row["patient_id"] is None
    path = status.set_aside[0].path

    # write-held takes the file like a recovery file: refused, and kept, while the cause stands ...
    with pytest.raises(StoreError, match="FOREIGN KEY constraint failed"):
        write_held(db_path, path)
    assert Path(path).exists()
    # ... and written once it is put right.
    with Store(db_path) as store:
        store.create_patient("MRN-1", patient_id="patient-key-not-on-file")
    assert write_held(db_path, path).rows == 1
    with Store(db_path, readonly=True) as reader:
        assert reader.session_row(session_id)["patient_id"] == "patient-key-not-on-file"


class _CommitRefusedOnce:
    """An opener whose store refuses the commit of its first transaction that sets rows aside (a disk that fails
    just then): what was set aside is in the file already when the transaction is tried again."""

    def __init__(self) -> None:
        self.refused = False

    def __call__(self, path: Path) -> Store:
        store = Store(path, check=False)
        outer = store.transaction

        @contextlib.contextmanager
        def transaction() -> Iterator[Any]:
            with outer() as conn:
                yield conn
                if not self.refused and conn.execute("SELECT 1").fetchone() and _set_aside_under_way(path):
                    self.refused = True
                    raise sqlite3.OperationalError("disk I/O error")

        store.transaction = transaction  # type: ignore[method-assign]
        return store


def _set_aside_under_way(db_path: Path) -> bool:
    return any(db_path.parent.glob(f"{db_path.name}.set-aside-*.jsonl"))


def test_a_commit_that_fails_after_the_file_was_written_sets_nothing_aside_twice(tmp_path: Path) -> None:
    db_path = tmp_path / "monitor.db"
    session_id = _new_session(db_path)
    opener = _CommitRefusedOnce()
    writer = StoreWriter(db_path, session_id, retry_interval_s=0.0, opener=opener)
    writer.put(Batch(readings=(_hr(T0 + 1),), events=(_note(T0 + 1, "RN \udcff", "bad"),)))
    assert not writer.pump(force=True)  # the commit failed: held, and no alarm of rows set aside yet
    assert opener.refused and writer.status().set_aside == () and writer.held_rows() == 2
    assert writer.pump(force=True)
    status = writer.status()
    assert status.ok and len(status.set_aside) == 1
    assert _stored(db_path, session_id)[0] == [T0 + 1]
    assert len(read_held_file(status.set_aside[0].path).ops) == 1
    writer.close()


def test_a_reading_the_database_cannot_bind_is_set_aside_alone(tmp_path: Path) -> None:
    db_path = tmp_path / "monitor.db"
    session_id = _new_session(db_path)
    writer = StoreWriter(db_path, session_id, retry_interval_s=0.0)
    huge = Reading(T0 + 1.5, Parameter.SPO2, 2 ** 70, "test")  # an integer beyond SQLite's 64 bits
    writer.put(Batch(readings=(_hr(T0 + 1), huge, _hr(T0 + 2))))
    assert writer.pump(force=True)
    status = writer.status()
    assert _stored(db_path, session_id)[0] == [T0 + 1, T0 + 2]
    assert [(a.rows, a.error.split(":")[0]) for a in status.set_aside] == [(1, "OverflowError")]
    assert status.stored_numerics == 2
    assert read_held_file(status.set_aside[0].path).ops == [Batch(readings=(huge,))]
    writer.close()


def test_a_recording_says_what_it_set_aside_on_the_timeline_in_an_alarm_and_at_its_end(store: Store) -> None:
    recorder = simulated_recorder(store, nurse="RN", alarms=AlarmEngine())
    recorder.step()
    recorder.writer.put(StoreCall("assign_patient", (recorder.session.id, "patient-key-not-on-file")))
    assert recorder.alarms is not None
    on_screen: list[str] = []
    while recorder.session.now < T0 + 30:
        recorder.step()
        recorder.flush()  # without a writer thread: written here
        on_screen += [a.message for a in recorder.alarms.snapshot(recorder.session.now).active
                      if a.condition == "rows_set_aside" and a.message not in on_screen]
    [alarm] = on_screen
    assert "FOREIGN KEY constraint failed" in alarm and "set aside in" in alarm and "recording goes on" in alarm
    recorder.close()
    assert recorder.end_status == "closed" and recorder.rows_not_written == 0
    [note] = [n for n in ending_notes(recorder) if "set aside" in n]
    assert str(recorder.writer.set_aside_path) in note and "write-held" in note
    events = [e.detail for e in store.events(recorder.session.id) if e.detail.get("condition") == "rows_set_aside"]
    assert [(e["rows"], e["file"]) for e in events] == [(1, str(recorder.writer.set_aside_path))]
    assert sum(1 for _ in store.readings(recorder.session.id)) > 25
