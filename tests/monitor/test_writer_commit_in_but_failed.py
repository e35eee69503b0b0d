"""A commit reported failed that went into the database all the same (a disk that stopped answering after the log
reached it, before the commit was confirmed; measured on a real ext4 shut down in the middle of a recording: one
transaction, 24 readings, was in the record twice after ``write-held``). Neither the writer, when the store takes
writes again, nor ``write-held``, after the recording was killed, writes those rows a second time."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.store import Store, runs
from monitor.store import writer as writer_module
from monitor.store.held_file import read_held_file, write_held
from monitor.store.operations import AuditEntry, Batch
from monitor.store.writer import StoreWriter
from tests.conftest import leave_unfinished
from tests.monitor.writing import T0, Switch, heart_rate, stored_times, switched_writer


def _failed_after_it_went_in(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, StoreWriter, Switch]:
    """A writer that committed 5 readings, then 5 more (and an acknowledgement) in a transaction that went in but
    was reported failed; then 5 more, held while the store refuses. Chunks of 10 rows."""
    monkeypatch.setattr(writer_module, "CHUNK_ROWS", 10)
    session_id, writer, switch = switched_writer(db_path)
    for second in range(5):
        writer.put(Batch(readings=(heart_rate(T0 + second),)))
    assert writer.pump(force=True)
    for second in range(5, 10):
        writer.put(Batch(readings=(heart_rate(T0 + second),)))
    writer.put(AuditEntry(T0 + 9, "acknowledge", "RN", session_id, {"alarm": "a1"}))
    switch.in_but_failed = True
    assert not writer.pump(force=True)
    assert writer.status().ok is False
    assert writer.held_rows() == 6  # as far as the writer knows, nothing of it went in
    for second in range(10, 15):
        writer.put(Batch(readings=(heart_rate(T0 + second),)))
    writer.pump(force=True)
    return session_id, writer, switch


def _acknowledgements(db_path: Path, session_id: str) -> int:
    with Store(db_path, readonly=True) as reader:
        return [a["action"] for a in reader.audit_log(session_id)].count("acknowledge")


def test_the_writer_does_not_write_again_what_went_in_when_its_commit_was_reported_failed(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, writer, switch = _failed_after_it_went_in(db_path, monkeypatch)
    assert stored_times(db_path, session_id) == [T0 + s for s in range(10)]  # it did go in
    switch.broken = False
    assert writer.pump(force=True)
    status = writer.status()
    writer.close()
    assert stored_times(db_path, session_id) == [T0 + s for s in range(15)]  # each once
    assert _acknowledgements(db_path, session_id) == 1
    assert status.ok and status.held_rows == 0 and status.stored_numerics == 15
    with Store(db_path, readonly=True) as reader:
        assert runs.written_through(reader.db.conn, session_id, writer.run_id) == 16  # 5 + 6 + 5 operations


def test_write_held_does_not_write_again_what_went_in_when_its_commit_was_reported_failed(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, writer, _switch = _failed_after_it_went_in(db_path, monkeypatch)
    left = writer.spill()
    assert left is not None
    writer.close()  # killed during the outage
    held = read_held_file(left, writer.keys)
    assert sum(op.rows() for op in held.ops) == 11  # the 6 rows that went in are among them
    leave_unfinished(db_path, session_id)
    done = write_held(db_path, left)
    assert done.rows == 5
    assert stored_times(db_path, session_id) == [T0 + s for s in range(15)]
    assert _acknowledgements(db_path, session_id) == 1


def test_when_everything_held_had_gone_in_the_writer_is_well_again(db_path: Path) -> None:
    """The storage alarm ends once the store answers, though nothing is left to write."""
    session_id, writer, switch = switched_writer(db_path)
    writer.put(Batch(readings=(heart_rate(T0),)))
    switch.in_but_failed = True
    assert not writer.pump(force=True)
    assert not writer.status().ok
    switch.broken = False
    assert writer.pump(force=True)
    status = writer.status()
    writer.close()
    assert status.ok and status.error is None and status.held_rows == 0 and status.stored_numerics == 1
    assert stored_times(db_path, session_id) == [T0]


def test_a_second_writer_of_the_session_in_the_same_process_writes_its_own_rows(db_path: Path) -> None:
    """A session resumed by the process that just ended it (the window, or a test) has a writer of its own run:
    named only by the second and the process, the two runs were one, and the second writer took what the first
    had written for its own and wrote nothing."""
    session_id, first, _switch = switched_writer(db_path)
    first.put(Batch(readings=(heart_rate(T0),)))
    first.put(Batch(readings=(heart_rate(T0 + 1),)))
    assert first.pump(force=True)
    first.close()
    second = StoreWriter(db_path, session_id)
    assert second.run_id != first.run_id
    second.put(Batch(readings=(heart_rate(T0 + 2),)))
    assert second.pump(force=True)
    second.close()
    assert stored_times(db_path, session_id) == [T0, T0 + 1, T0 + 2]


def test_what_the_database_says_beyond_what_the_writer_ever_tried_is_not_believed(db_path: Path) -> None:
    """A row for this run saying more than it ever tried to write (written by something else) takes nothing from
    what is held."""
    session_id, writer, _switch = switched_writer(db_path)
    with Store(db_path) as store, store.transaction():
        runs.note(store.db.conn, session_id, writer.run_id, 1000)
    writer.put(Batch(readings=(heart_rate(T0),)))
    writer.put(Batch(readings=(heart_rate(T0 + 1),)))
    assert writer.pump(force=True)
    writer.close()
    assert stored_times(db_path, session_id) == [T0, T0 + 1]
