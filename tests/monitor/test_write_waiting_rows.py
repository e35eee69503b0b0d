"""The rows a session left in its recovery files, written in for the window (and anyone else) by session, not by
file: every file of the session, oldest first, each audited under who had it done; one that is refused stops the
rest and says which were written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.app.errors import AppError
from monitor.app.sessions import check_resumable, rows_waiting, write_waiting_rows
from monitor.store import Store
from monitor.store.held_file import HELD_ROWS_WRITTEN, write_recovery_file
from monitor.store.operations import Batch
from tests.monitor.writing import T0, heart_rate, recorded_without_a_store


@pytest.fixture
def two_files(store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path, Path]:
    """A session whose store never took a row of its 20 s (its rows and its end in a recovery file), and an older
    file of the same session (a run before, say): its id, the older file and the newer."""
    recorder = recorded_without_a_store(store, db_path, monkeypatch, 20)
    assert recorder.recovery_file is not None
    older = write_recovery_file(db_path, recorder.session.id, [Batch(readings=(heart_rate(T0 - 30),))], store.keys,
                                run="1000000000-1", numbers=[1])
    assert older is not None
    return recorder.session.id, Path(older), Path(recorder.recovery_file)


def test_the_files_of_a_session_are_written_oldest_first_and_then_it_has_none_waiting(
    store: Store, db_path: Path, two_files: tuple[str, Path, Path]
) -> None:
    session_id, older, newer = two_files
    assert rows_waiting(db_path, [session_id, "no-such-session"]) == {session_id}
    with pytest.raises(AppError, match="cannot be resumed yet: rows it could not write wait in"):
        check_resumable(store, session_id)
    before = store.reading_count(session_id)
    done = write_waiting_rows(db_path, session_id, "IT Ops")
    assert done.files == (older, newer)
    assert done.rows > 1 and done.text().startswith(f"{done.rows} rows of session {session_id[:8]} written")
    assert store.reading_count(session_id) > before + 1
    audited = [a for a in store.audit_log(session_id) if a["action"] == HELD_ROWS_WRITTEN]
    assert [(a["user"], json.loads(a["detail"])["file"]) for a in audited] == [
        ("IT Ops", older.name), ("IT Ops", newer.name)]
    # Its own end was among the rows: it ended as the recording ended it, and nothing waits any more.
    assert store.status_of(store.session_row(session_id)) != "unfinished"
    assert rows_waiting(db_path, [session_id]) == frozenset()
    with pytest.raises(AppError, match="has no rows waiting in a recovery file"):
        write_waiting_rows(db_path, session_id, "IT Ops")


def test_a_refused_file_stops_the_rest_and_the_error_says_which_were_written(
    store: Store, db_path: Path, two_files: tuple[str, Path, Path]
) -> None:
    session_id, older, newer = two_files
    newer.write_text(newer.read_text().replace('"session_closed"', '"session_kept"'))
    with pytest.raises(AppError) as refused:
        write_waiting_rows(db_path, session_id, "IT Ops")
    assert str(refused.value) == (
        f"{newer}: the file was changed after this program wrote it (its keyed hash does not match); it is not "
        f"written into the record (the rows of {older.name} were written)"
    )
    assert newer.exists() and not older.exists()
    assert store.status_of(store.session_row(session_id)) == "unfinished"
