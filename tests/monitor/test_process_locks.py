"""A second connection opened in a process that already records must not drop the first one's locks.

Closing any descriptor of a file drops every POSIX lock the process holds on it. SQLite's WAL connections
hold a shared lock on the database for as long as they are open; it is what tells another process, closing
its own connection, that it is not the last one and must leave ``<db>-wal`` alone. When opening a second
store opened and closed the database file by hand, the next process to close a connection checkpointed the
log and deleted it under the recording, whose later commits then went to a log nobody else could find (a
chair catching up with the clinic's server lost them on the server and, at the next start, on the chair).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from monitor.keys import create_private_file, make_owner_only
from monitor.store import Store

_COUNT_AND_CLOSE = (
    "import sqlite3, sys\n"
    "conn = sqlite3.connect(sys.argv[1])\n"
    "print(conn.execute('SELECT COUNT(*) FROM audit').fetchone()[0])\n"
    "conn.close()\n"
)


def _rows_seen_by_another_process(db_path: Path) -> int:
    done = subprocess.run([sys.executable, "-c", _COUNT_AND_CLOSE, str(db_path)], capture_output=True, text=True,
                          check=True, timeout=60)
    return int(done.stdout)


def test_commits_after_a_second_store_opens_reach_other_processes(db_path: Path) -> None:
    with Store(db_path) as recording:
        recording.audit("note", user="RN")
        with Store(db_path):  # a reader, a replicator: another connection of the same process
            before = _rows_seen_by_another_process(db_path)  # that process closes its connection last of its own
            assert Path(f"{db_path}-wal").exists(), "another process deleted the write-ahead log under the recording"
            recording.audit("note", user="RN")
            assert _rows_seen_by_another_process(db_path) == before + 1


def test_a_new_file_is_made_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    os.umask(0o022)
    create_private_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_file_loses_what_others_may_do_and_gains_nothing(tmp_path: Path) -> None:
    shared, read_only = tmp_path / "shared.db", tmp_path / "read-only.db"
    shared.write_bytes(b"kept")
    read_only.write_bytes(b"kept")
    shared.chmod(0o664)
    read_only.chmod(0o444)
    make_owner_only(shared)
    make_owner_only(read_only)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600
    assert stat.S_IMODE(read_only.stat().st_mode) == 0o400
    assert shared.read_bytes() == b"kept"
