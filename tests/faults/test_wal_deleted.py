"""The open database's write-ahead log deleted under a running ``record``.

Every commit of the recording goes to ``<db>-wal`` first; once that name is unlinked the connection
goes on writing into a file nobody can open again. The recording must say so at once, and readings it
reported as stored must still be in the database after the process dies.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.faults.helpers import REPO_ROOT, CommandLine, first_value, integrity, stored_counts
from tests.outside_process import Outsider


def _reported(run: CommandLine) -> int:
    return max(stored_counts(run.output()))


def _recording_when(db_path: Path, damage: Callable[[str, CommandLine], None]) -> tuple[str, int, list[str]]:
    """Record, do ``damage`` (given the session's id and the recording) two seconds in, go on 6 s, kill the
    recording: the session, the readings it reported stored, and what it printed after the damage."""
    run = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN",
                      "--plan", "baseline:5,infusion:40,recovery:30")
    try:
        run.wait_for("| stored", timeout=30)
        time.sleep(2.0)
        session_id = _session(db_path)
        damaged_at = len(run.output())
        damage(session_id, run)
        time.sleep(6.0)
        return session_id, _reported(run), run.output()[damaged_at:]
    finally:
        run.kill()


def _nothing_reported_lost(db_path: Path, session_id: str, reported: int) -> None:
    session_rows = _readings(db_path, session_id)
    print(f"reported stored {reported}, in the database after the kill {session_rows}")
    assert integrity(db_path) == "ok"
    assert session_rows >= reported, f"{reported - session_rows} readings reported stored were lost"


def test_a_deleted_write_ahead_log_is_alarmed_and_loses_nothing_reported(db_path: Path) -> None:
    wal = db_path.with_name(db_path.name + "-wal")

    def delete_the_log(_session_id: str, _run: CommandLine) -> None:
        assert wal.exists()
        os.unlink(wal)

    session_id, reported, after = _recording_when(db_path, delete_the_log)
    alarmed = [line for line in after if "alarm" in line.lower() or "database" in line.lower()]
    assert alarmed, "no technical alarm in the 6 s after the write-ahead log was deleted:\n" + "\n".join(after)
    _nothing_reported_lost(db_path, session_id, reported)


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


def test_a_deleted_shared_memory_index_then_other_writers_lose_nothing_reported(db_path: Path) -> None:
    """``<db>-shm`` deleted (a clean-up of "temporary" files). A plain SQLite process opens the database at once,
    makes an index of its own from the log and writes a while later where that index says the log ends: over
    what the recording committed since, unless the recording wrote its data back first. A listing by this
    program afterwards records who listed what in the recording's file."""

    def delete_the_index_then_open_write_and_list(session_id: str, run: CommandLine) -> None:
        os.unlink(db_path.with_name(db_path.name + "-shm"))
        outsider = Outsider(db_path)
        try:
            run.wait_for("shared-memory index", timeout=10)
            listing = subprocess.run([sys.executable, "-m", "monitor.cli", "sessions", "--db", str(db_path)],
                                     cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
            assert session_id[:8] in listing.stdout, listing.stdout + listing.stderr
            time.sleep(1.0)  # the recording commits on meanwhile
            outsider.write("a backup script's mark")
        finally:
            outsider.close()

    session_id, reported, _after = _recording_when(db_path, delete_the_index_then_open_write_and_list)
    _nothing_reported_lost(db_path, session_id, reported)
    assert _listed(db_path) == 1, "the listing's audit entry did not reach the recording's file"


def test_a_deleted_shared_memory_index_then_a_listing_at_once_loses_nothing(db_path: Path) -> None:
    """``<db>-shm`` deleted, and this program's ``sessions`` started at once: it must not make an index of its own
    and write (who listed what) over the recording's frames. It waits, while the recording holds the database
    without its index, for the write-back. (A CI run of the listing alone lost 546 of 735 readings reported
    stored: everything the recording committed after the listing opened.)"""

    def delete_the_index_then_list(session_id: str, _run: CommandLine) -> None:
        os.unlink(db_path.with_name(db_path.name + "-shm"))
        listing = subprocess.run([sys.executable, "-m", "monitor.cli", "sessions", "--db", str(db_path)],
                                 cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert session_id[:8] in listing.stdout, listing.stdout + listing.stderr

    session_id, reported, after = _recording_when(db_path, delete_the_index_then_list)
    assert any("shared-memory index" in line for line in after), "no alarm:\n" + "\n".join(after)
    _nothing_reported_lost(db_path, session_id, reported)
    assert _listed(db_path) == 1, "the listing's audit entry did not reach the recording's file"


def _listed(db_path: Path) -> int:
    return int(str(first_value(db_path, "SELECT COUNT(*) FROM audit WHERE action = 'sessions_listed'")))


def test_a_written_back_file_put_in_wal_mode_by_a_listing_then_its_log_deleted_loses_nothing(db_path: Path) -> None:
    """The database deleted: the recording writes it back in rollback mode. A listing by this program then puts it
    in WAL mode (every start does), so the recording's connection commits into a log from then on; that log deleted
    in turn must be noticed and written back like the first, or everything committed into it is lost."""
    wal = db_path.with_name(db_path.name + "-wal")

    def delete_then_list_then_delete_the_log(session_id: str, run: CommandLine) -> None:
        os.unlink(db_path)
        run.wait_for("written back", timeout=10)
        listing = subprocess.run([sys.executable, "-m", "monitor.cli", "sessions", "--db", str(db_path)],
                                 cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert session_id[:8] in listing.stdout, listing.stdout + listing.stderr
        time.sleep(1.0)  # the recording commits on, into the log
        assert db_path.read_bytes()[18:20] == b"\x02\x02", "the listing did not put the database in WAL mode"
        assert wal.exists()
        os.unlink(wal)

    session_id, reported, after = _recording_when(db_path, delete_then_list_then_delete_the_log)
    _nothing_reported_lost(db_path, session_id, reported)
    assert any("write-ahead log" in line for line in after), "no alarm:\n" + "\n".join(after)
