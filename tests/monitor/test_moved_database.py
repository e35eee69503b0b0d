"""A database a recording had to move elsewhere (no copy could be made where it was) is not replaced at the next
start by a new, empty one at the old name: the start names the copy and how to put it back."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from monitor import integrity
from monitor.store import Store, StoreError
from tests.monitor.writing import T0, block_copy_beside, committed_writer, stored_times


@pytest.fixture
def moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_path: Path) -> tuple[Path, str]:
    """The database deleted under its writer while no copy can be made beside it: the copy in the data folder,
    and the session's id."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    with committed_writer(db_path) as (session_id, writer):
        block_copy_beside(db_path, monkeypatch)  # as a full disk would refuse the copy
        os.unlink(db_path)
        incident = writer.check_file(force=True)
    assert incident is not None and incident.written_to is not None
    copy = Path(incident.written_to)
    assert copy.parent == tmp_path / "share" / "infusion-monitor"
    return copy, session_id


def test_the_next_start_names_the_moved_copy_and_begins_nothing(moved: tuple[Path, str], db_path: Path) -> None:
    """Before, it began a new, empty database at the name (with a warning in the log): two records from then on."""
    copy, session_id = moved
    told = f"is now {copy}. Put it back before recording (mv {copy} {db_path})"
    with pytest.raises(StoreError, match=re.escape(told)):
        Store(db_path)
    assert not db_path.exists()
    os.replace(copy, db_path)  # as the message says
    with Store(db_path) as store:
        assert integrity.verify(store.db.conn, store.keys).ok
        assert store.rolled_back is None
    assert stored_times(db_path, session_id) == [T0 + 1]


def test_a_copy_moved_away_lets_a_new_database_begin(moved: tuple[Path, str], db_path: Path, tmp_path: Path) -> None:
    copy, _ = moved
    shutil.move(copy, tmp_path / "kept-apart.db")
    with Store(db_path) as store:
        assert store.sessions() == []
