"""Naming the disk behind a write that failed must not cost the database its locks.

The writer asks the file itself why a write failed (a failing disk says "Input/output error"). It once asked by
opening the file and closing it again: closing any descriptor of a file drops every POSIX lock the process holds on
it, so a backup holding the write lock for 8 s took the recording's shared lock away, and the next program that
closed its own connection to the database deleted its -wal and -shm under the recording (a false "database moved"
alarm followed).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.store.writer import naming_the_disk

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="the system does not list its locks")


def _locks_held(path: Path, pid: int) -> list[str]:
    """The lines of /proc/locks in which ``pid`` holds a lock on the file at ``path``, without their ordinal (the
    kernel numbers the lines anew as other processes take and let go of locks)."""
    stat = os.stat(path)
    wanted = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    lines = Path("/proc/locks").read_text().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines
            if "->" not in line and f" {pid} " in line and f" {wanted} " in line]


def _wal_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    return conn


def test_asking_the_file_keeps_the_connections_shared_lock(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    conn = _wal_database(db)
    try:
        held = _locks_held(db, os.getpid())
        assert held, "an open WAL connection holds a shared lock on its database file"
        assert naming_the_disk("database is locked", db) == "database is locked"  # the file reads: nothing added
        assert _locks_held(db, os.getpid()) == held
        # Another program closing its own connection now is not the last one: the log and the index stay.
        subprocess.run([sys.executable, "-c", f"import sqlite3; c = sqlite3.connect({str(db)!r}); "
                        "c.execute('SELECT count(*) FROM t').fetchone(); c.close()"], check=True, timeout=60)
        assert (tmp_path / "monitor.db-wal").exists() and (tmp_path / "monitor.db-shm").exists()
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    finally:
        conn.close()


def test_a_file_this_process_does_not_hold_is_still_asked(tmp_path: Path) -> None:
    db = tmp_path / "gone.db"
    assert naming_the_disk("unable to open database file", db) == "unable to open database file"
    db.write_bytes(b"SQLite format 3\x00" + bytes(84))
    assert naming_the_disk("disk I/O error", db) == "disk I/O error"
    os.chmod(db, 0)
    if os.geteuid() != 0:  # root reads it anyway
        assert "Permission denied" in naming_the_disk("disk I/O error", db)
