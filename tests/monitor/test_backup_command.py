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


def test_what_a_killed_backup_left_is_removed_by_the_next_and_only_that(
        db_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A backup killed half-way leaves its folder (``.NAME.<random>.backup.part``, the partial copy inside); the
    next backup into that folder removes it and names it. A backup still running (its folder locked), another
    account's folder, a link and other programs' ``.part`` files are left alone."""
    import fcntl
    import os

    Store(db_path).close()
    shared = tmp_path / "shared"
    shared.mkdir()
    left = shared / ".monitor-backup.db.k2j4h6g8.backup.part"
    left.mkdir(mode=0o700)
    (left / "monitor-backup.db").write_bytes(b"SQLite format 3\x00" + bytes(4080))
    running = shared / ".monitor-backup.db.a1b2c3d4.backup.part"
    running.mkdir(mode=0o700)
    others = shared / ".monitor-backup.db.z9y8x7w6.backup.part"
    others.mkdir()
    link = shared / ".elsewhere.q1w2e3r4.backup.part"
    link.symlink_to(tmp_path)
    foreign = shared / ".download.zip.part"
    foreign.write_text("a browser's\n")
    held = os.open(running, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.geteuid() == 0:
            os.chown(others, 65534, 65534)
        else:
            others.rmdir()  # only root can give a folder to another account
        assert main(["backup", str(shared / "monitor-backup.db"), "--db", str(db_path)], out=io.StringIO()) == 0
    finally:
        os.close(held)
    assert not left.exists()
    assert running.is_dir() and link.is_symlink() and foreign.read_text() == "a browser's\n"
    assert others.is_dir() or os.geteuid() != 0
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [f"removed {left}: an unfinished backup left by a run that was stopped (incomplete, and it may "
                    "hold patient data)"], said
