"""``infusion-monitor backup FILE``: a copy of the database taken while a program writes it holds what is still in
its write-ahead log, is one owner-only file, and says that the key file is not in it."""

from __future__ import annotations

import io
import shutil
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store import Store


def _notes(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'note'").fetchone()[0])
    finally:
        conn.close()


def test_a_backup_taken_while_recording_holds_what_the_log_holds_and_is_owner_only(
        db_path: Path, tmp_path: Path) -> None:
    target, plain = tmp_path / "copies" / "monitor-backup.db", tmp_path / "plain.db"
    target.parent.mkdir()
    Store(db_path).close()  # made and folded into the file: what follows stays in the log
    with Store(db_path) as store:
        for i in range(20):
            store.audit("note", user="RN", text=f"entry {i}")
        assert Path(f"{db_path}-wal").stat().st_size > 0  # not yet folded into the file
        shutil.copy(db_path, plain)  # what `cp monitor.db` alone gives
        out = io.StringIO()
        assert main(["backup", str(target), "--db", str(db_path)], out=out) == 0
    assert _notes(plain) == 0
    assert _notes(target) == 20
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not Path(f"{target}-wal").exists()
    text = out.getvalue()
    assert "owner-only" in text and "the key file is not in it" in text and "keys --backup" in text, text
    code = main(["verify", "--db", str(target)], out=io.StringIO())
    assert code == 0  # another name: compared with no note, and its own chain is whole


def test_a_backup_over_the_database_itself_is_refused(
        db_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(db_path) as store:
        store.audit("note", user="RN", text="one")
    before = db_path.read_bytes()
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["backup", str(db_path), "--db", str(db_path)], out=io.StringIO()) == 1
    assert "is the database itself" in capsys.readouterr().err
    assert db_path.read_bytes() == before
