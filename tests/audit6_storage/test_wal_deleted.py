"""The open database's write-ahead log deleted under a running ``record``.

Every commit of the recording goes to ``<db>-wal`` first; once that name is unlinked the connection
goes on writing into a file nobody can open again. The recording must say so at once, and readings it
reported as stored must still be in the database after the process dies.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.faults.helpers import REPO_ROOT, CommandLine, integrity

STORED = re.compile(r"\| stored (\d+)")


def _reported(run: CommandLine) -> int:
    return max(int(m.group(1)) for line in run.output() if (m := STORED.search(line)))


def test_a_deleted_write_ahead_log_is_alarmed_and_loses_nothing_reported(db_path: Path) -> None:
    run = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN",
                      "--plan", "baseline:5,infusion:40,recovery:30")
    try:
        run.wait_for("| stored", timeout=30)
        time.sleep(2.0)
        session_id = _session(db_path)
        wal = db_path.with_name(db_path.name + "-wal")
        assert wal.exists()
        os.unlink(wal)
        deleted_at = len(run.output())
        time.sleep(6.0)
        after = run.output()[deleted_at:]
        reported = _reported(run)
        alarmed = [line for line in after if "alarm" in line.lower() or "database" in line.lower()]
    finally:
        run.kill()
    session_rows = _readings(db_path, session_id)
    print(f"reported stored {reported}, in the database after the kill {session_rows}")
    assert integrity(db_path) == "ok"
    assert alarmed, "no technical alarm in the 6 s after the write-ahead log was deleted:\n" + "\n".join(after)
    assert session_rows >= reported, f"{reported - session_rows} readings reported stored were lost"


def _session(db_path: Path) -> str:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return str(conn.execute("SELECT id FROM sessions").fetchone()[0])
    finally:
        conn.close()


def _readings(db_path: Path, session_id: str) -> int:
    """Readings of the session in the file a restart finds (0 if the file lost its tables too)."""
    conn = sqlite3.connect(db_path)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'readings'").fetchone():
            return 0
        return int(conn.execute("SELECT COUNT(*) FROM readings WHERE session_id = ?", [session_id]).fetchone()[0])
    finally:
        conn.close()


def test_a_deleted_shared_memory_index_then_a_reader_loses_nothing_reported(db_path: Path) -> None:
    """``<db>-shm`` deleted (a clean-up of "temporary" files): the next reader makes a new one, believes itself
    the only connection, and when it closes it checkpoints and deletes ``<db>-wal`` under the recording."""
    run = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN",
                      "--plan", "baseline:5,infusion:40,recovery:30")
    try:
        run.wait_for("| stored", timeout=30)
        time.sleep(2.0)
        session_id = _session(db_path)
        os.unlink(db_path.with_name(db_path.name + "-shm"))
        listing = subprocess.run([sys.executable, "-m", "monitor.cli", "sessions", "--db", str(db_path)],
                                 cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert session_id[:8] in listing.stdout, listing.stdout + listing.stderr
        time.sleep(6.0)
        reported = _reported(run)
    finally:
        run.kill()
    session_rows = _readings(db_path, session_id)
    print(f"reported stored {reported}, in the database after the kill {session_rows}")
    assert integrity(db_path) == "ok"
    assert session_rows >= reported, f"{reported - session_rows} readings reported stored were lost"
