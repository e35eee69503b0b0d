"""A database path naming a folder, a pipe, a device or a file that is no database is refused before anything is
changed.

Opening a database makes its file owner-only first. Given a folder (a typo in --db, INFUSION_MONITOR_DB or the
config file's ``db``) that made the folder 0600, so its owner could no longer read the files in it; run as root,
a path such as /dev/null lost its permissions for every program on the computer. A regular file that is no
database (``--db /etc/hosts``, or a link to /etc/passwd) was made 0600 before SQLite refused it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store import Store, StoreError


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_folder_is_refused_and_keeps_its_permissions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "clinic data"
    folder.mkdir()
    (folder / "notes.txt").write_text("kept")
    folder.chmod(0o755)
    with pytest.raises(StoreError, match="is a folder, not a database file: name the database file in it"):
        Store(folder)
    assert main(["sessions", "--db", str(folder)]) != 0
    assert "is a folder, not a database file" in capsys.readouterr().err
    assert _mode(folder) == 0o755 and sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_pipe_is_refused_and_keeps_its_permissions(tmp_path: Path) -> None:
    pipe = tmp_path / "monitor.db"
    os.mkfifo(pipe, 0o666)
    pipe.chmod(0o666)
    with pytest.raises(StoreError, match="is not a file but a device, pipe or socket"):
        Store(pipe)
    assert _mode(pipe) == 0o666 and stat.S_ISFIFO(os.stat(pipe).st_mode)


HOSTS = "127.0.0.1 localhost\n::1 localhost\n"


@pytest.mark.parametrize("how", ["file", "link"])
@pytest.mark.parametrize("command", [["sessions"], ["users", "list"], ["feed", "list"], ["rems"]])
def test_a_file_that_is_no_database_is_refused_and_keeps_its_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, command: list[str]
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    hosts.chmod(0o644)
    named = hosts if how == "file" else tmp_path / "link.db"
    if how == "link":
        named.symlink_to(hosts)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([*command, "--db", str(named)]) != 0
    assert f"{named} is not a database file (SQLite finds no database in it); nothing was changed" in \
        capsys.readouterr().err
    assert _mode(hosts) == 0o644 and hosts.read_text() == HOSTS
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no journal, no lock folder beside it


def test_a_store_opened_on_a_file_that_is_no_database_changes_nothing(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    hosts.chmod(0o644)
    with pytest.raises(StoreError, match="nothing was changed"):
        Store(hosts)
    assert _mode(hosts) == 0o644 and hosts.read_text() == HOSTS


def test_a_database_others_may_read_is_still_made_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "copied-in.db"
    Store(db).close()
    db.chmod(0o644)
    empty = tmp_path / "empty.db"  # an empty file is a database SQLite begins
    empty.write_bytes(b"")
    empty.chmod(0o664)
    for path in (db, empty):
        with Store(path) as store:
            assert store.sessions() == []
        assert _mode(path) == 0o600


def test_another_programs_sqlite_database_is_refused_and_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A browser's history or another tool's SQLite file given by mistake passed the header check: it had this
    program's tables migrated into it and was made owner-only."""
    import sqlite3

    places = tmp_path / "places.sqlite"
    conn = sqlite3.connect(places)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.execute("INSERT INTO moz_places (url) VALUES ('https://example.org')")
    conn.execute("PRAGMA user_version = 74")
    conn.commit()
    conn.close()
    places.chmod(0o644)
    before = places.read_bytes()
    with pytest.raises(StoreError, match=r"another program's SQLite database \(its tables: moz_places\); nothing "
                                         "was changed"):
        Store(places)
    assert main(["sessions", "--db", str(places)]) != 0
    assert "another program's SQLite database" in capsys.readouterr().err
    assert _mode(places) == 0o644 and places.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["places.sqlite"]
