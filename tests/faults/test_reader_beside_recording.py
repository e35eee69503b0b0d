"""Another process opens the database read-write and closes it while a recording runs: a backup script, the
``sqlite3`` shell, a second command of this program.

SQLite lets the last connection to close checkpoint the write-ahead log and delete it; an open connection's
shared lock on the file is what tells the closing one it is not the last. When the recording process dropped its
own locks (it opened and closed a descriptor of the live file while making a second store owner-only), the
first outside reader to close deleted the log under the recording. Every later commit then went into a log no
other process could see, and a kill lost them all: 141 readings were left of about 390, in each of three runs.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.faults.helpers import CommandLine, counts, integrity, stored_counts, until


def _session_id(db_path: Path) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT id FROM sessions").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])


def _read_and_close(db_path: Path, session_id: str) -> int:
    """The session's readings, counted through a read-write connection that is then closed (as a shell would)."""
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM readings WHERE session_id = ?", [session_id]).fetchone()[0])
    finally:
        conn.close()


def test_a_process_that_reads_and_closes_beside_a_recording_takes_nothing_from_it(db_path: Path) -> None:
    run = CommandLine("record", "--db", str(db_path), "--speed", "20", "--nurse", "RN")
    try:
        until(lambda: _session_id(db_path) is not None, 30, "the session in the file")
        session_id = _session_id(db_path)
        assert session_id is not None
        until(lambda: _read_and_close(db_path, session_id) > 0, 30, "the first readings")
        first = _read_and_close(db_path, session_id)
        time.sleep(2.0)
        later = _read_and_close(db_path, session_id)
        assert later > first, "commits made after another process closed its connection are not seen by others"
        time.sleep(2.0)
        reported = stored_counts(run.output())
        assert reported, run.output()
    finally:
        run.kill()
    assert integrity(db_path) == "ok"
    readings, _samples = counts(db_path, session_id)
    assert readings >= reported[-1] > later, (readings, reported[-1], later)
    assert not any("database_moved" in line for line in run.output()), run.output()
