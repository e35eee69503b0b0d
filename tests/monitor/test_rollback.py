"""The whole database put back to an older copy of itself: the chain in the copy is correct, only shorter, so the
note of how far it reached, kept beside the key file, is what names it — at `verify`, and at the next opening,
which records it in the audit log."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from monitor.cli import main
from monitor.store import ROLLED_BACK_ACTION, Store, witness
from monitor.store.chain import connect_read_only


def _write(path: Path, entries: int) -> None:
    with Store(path) as store:
        for i in range(entries):
            store.audit("note", user="RN", text=f"entry {i}")


def _copy(source: Path, target: Path) -> None:
    """A file copy of a closed database (as a backup or a restore makes it)."""
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copy(source, target)


def _verify(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    return main(["verify", "--db", str(path)], out=out), out.getvalue()


def test_a_restored_older_copy_is_named_by_verify_and_recorded_at_the_next_opening(tmp_path: Path) -> None:
    db, backup = tmp_path / "monitor.db", tmp_path / "backup.db"
    _write(db, 3)
    _copy(db, backup)
    _write(db, 5)  # recorded after the backup: what the restore will undo
    assert _verify(db)[0] == 0
    _copy(backup, db)
    code, text = _verify(db)
    assert code == 1, text
    assert "NOT VERIFIED: records are missing: found now: the database holds" in text
    assert "replaced by an older or partial copy of itself" in text
    assert "the chain itself verified" in text  # a correct chain: only the note beside the key file knew
    with Store(db) as store:  # the next opening (any command that writes) records it
        assert store.rolled_back is not None and "older or partial copy" in store.rolled_back
        (row,) = [r for r in store.audit_log() if r["action"] == ROLLED_BACK_ACTION]
        assert row["user"] is None and "this computer saw link" in row["detail"]
    code, text = _verify(db)
    assert code == 1 and "found at its opening on" in text, text
    with Store(db) as store:
        assert store.rolled_back is None, "said once; the audit entry keeps it"


def test_another_database_under_the_same_name_is_not_an_older_copy(tmp_path: Path) -> None:
    db, other = tmp_path / "monitor.db", tmp_path / "other.db"
    _write(db, 5)
    _write(other, 1)
    _copy(other, db)
    assert _verify(db)[0] == 0
    with Store(db) as store:
        assert store.rolled_back is None


def test_an_older_copy_written_past_the_noted_link_is_named_too(tmp_path: Path) -> None:
    """Put back, then written elsewhere until its chain is longer than the note: the noted link differs."""
    db, backup = tmp_path / "monitor.db", tmp_path / "elsewhere" / "monitor.db"
    backup.parent.mkdir()
    _write(db, 2)
    _copy(db, backup)
    _write(db, 3)
    _write(backup, 20)  # another path: its own note, none compared with the first one's
    _copy(backup, db)
    conn = connect_read_only(db)
    try:
        keys = Store(db, readonly=True).keys
        assert keys is not None
        found = witness.check(keys, db, conn)
    finally:
        conn.close()
    assert found is not None and "is not the one this computer saw" in found


def test_a_note_that_does_not_verify_is_not_used(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    _write(db, 2)
    with Store(db, readonly=True) as store:
        keys = store.keys
        assert keys is not None and witness.recall(keys, db) is not None
    note = witness.note_path(keys, db)
    text = note.read_text()
    note.write_text(text.replace('"seq": ', '"seq": 1'))  # a larger number without the key
    assert witness.recall(keys, db) is None
