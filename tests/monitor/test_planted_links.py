"""Files written beside a path the user chose (a shared backup folder, /tmp) never follow or change what someone
else put there: a symbolic link or a file planted at the name a copy is written under is left exactly as it was.

Before, ``backup FILE`` wrote its copy to ``.FILE.<pid>.part``: the whole database went into whatever a link planted
at that name pointed to (a file another user owned and could read), a file planted there was made 0600, and the
link itself was then renamed onto FILE.
"""

from __future__ import annotations

import io
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.keys import create_private_file, key_file_path
from monitor.store import Store
from monitor.store.backup import copy_database
from tests.monitor.writing import committed_writer


def _planted(folder: Path, names: list[str]) -> tuple[Path, Path]:
    """Another user's empty file ``loot`` with a link to it at each of ``names``, and a non-empty 0644 file
    ``victim`` (a system file); both are returned."""
    loot, victim = folder / "loot", folder / "victim"
    loot.write_bytes(b"")
    victim.write_text("127.0.0.1 localhost\n")
    victim.chmod(0o644)
    for name in names:
        (folder / name).symlink_to(loot)
    return loot, victim


def _untouched(loot: Path, victim: Path) -> None:
    assert loot.read_bytes() == b""
    assert victim.read_text() == "127.0.0.1 localhost\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_backup_never_writes_through_a_link_planted_at_the_copys_name(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        store.audit("note", user="RN", text="for the backup")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    loot, victim = _planted(shared, [f".b.db.{os.getpid()}.part"])
    copy_database(db_path, shared / "b.db")
    _untouched(loot, victim)
    target = shared / "b.db"
    assert not target.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o600
    conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'note'").fetchone()[0] == 1
    finally:
        conn.close()
    # Nothing is left beside it: no part file, no folder of its own.
    assert sorted(p.name for p in shared.iterdir()) == sorted(["b.db", "loot", "victim", f".b.db.{os.getpid()}.part"])


def test_backup_leaves_a_file_planted_at_the_copys_name_as_it_was(db_path: Path, tmp_path: Path) -> None:
    Store(db_path).close()
    planted = tmp_path / f".b.db.{os.getpid()}.part"
    planted.write_text("someone's notes\n")
    planted.chmod(0o644)
    assert main(["backup", str(tmp_path / "b.db"), "--db", str(db_path)], out=io.StringIO()) == 0
    assert planted.read_text() == "someone's notes\n"
    assert stat.S_IMODE(planted.stat().st_mode) == 0o644


def test_a_written_back_database_never_goes_through_a_link_at_the_copys_name(db_path: Path) -> None:
    # The database deleted under its writer: the complete data are written back to its name through a copy.
    with committed_writer(db_path) as (_, writer):
        loot, victim = _planted(db_path.parent, [f"{db_path.name}.part"])
        os.unlink(db_path)
        incident = writer.check_file(force=True)
        assert incident is not None and incident.written_to == str(db_path)
    _untouched(loot, victim)
    assert not db_path.is_symlink() and stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_keys_backup_is_made_beside_a_link_planted_at_the_old_name(db_path: Path, tmp_path: Path) -> None:
    Store(db_path).close()  # makes the key file
    loot, victim = _planted(tmp_path, [f".key.bak.{os.getpid()}.part"])
    target = tmp_path / "key.bak"
    assert main(["keys", "--backup", str(target)], out=io.StringIO()) == 0
    _untouched(loot, victim)
    assert target.read_bytes() == key_file_path().read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize("what", ["link", "file"])
def test_a_new_private_file_never_takes_what_is_at_its_name(tmp_path: Path, what: str) -> None:
    loot, victim = _planted(tmp_path, [])
    path = tmp_path / "new.db"
    if what == "link":
        path.symlink_to(victim)
    else:
        path.write_text("127.0.0.1 localhost\n")
        path.chmod(0o644)
    with pytest.raises(FileExistsError):
        create_private_file(path)
    _untouched(loot, victim)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_part_file_has_a_name_of_its_own_and_is_owner_only(tmp_path: Path) -> None:
    from monitor.keys import open_part

    os.umask(0o022)
    target = tmp_path / "export.csv"
    first, first_path = open_part(target, "w")
    second, second_path = open_part(target, "w")
    with first, second:
        assert first_path != second_path
        assert first_path.parent == target.parent and first_path.name.startswith(".export.csv.")
        assert stat.S_IMODE(first_path.stat().st_mode) == 0o600
