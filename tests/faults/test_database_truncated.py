"""The open database file truncated (``truncate -s 0``, a copy tool or a clean-up script writing over it)
under a running ``record``.

The name still points at the same file, so it is not "deleted or moved"; yet the pages already
checkpointed into it are gone. The recording must say so at once instead of going on as if every
reading were safe on disk.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from tests.faults.helpers import CommandLine, stored_counts, until


def test_a_truncated_database_is_alarmed(db_path: Path) -> None:
    run = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN",
                      "--plan", "baseline:5,infusion:40,recovery:30")
    try:
        run.wait_for("| stored", timeout=30)
        # Wait until the write-ahead log was checkpointed into the main file: readings now live there.
        until(lambda: db_path.stat().st_size > 100_000, timeout=60, what="a checkpoint into the main file")
        os.truncate(db_path, 0)
        truncated_at = len(run.output())
        time.sleep(6.0)
        after = run.output()[truncated_at:]
        reported = max(stored_counts(run.output()))
    finally:
        run.kill()
    conn = sqlite3.connect(db_path)
    try:
        left = str(conn.execute("PRAGMA quick_check").fetchone()[0])
        left += f", {conn.execute('SELECT COUNT(*) FROM readings').fetchone()[0]} readings"
    except sqlite3.DatabaseError as exc:
        left = str(exc)
    finally:
        conn.close()
    print(f"reported stored {reported}; the file after the kill: {left}")
    alarmed = [line for line in after if "(database_" in line and "started" in line]
    assert alarmed, "no technical alarm in the 6 s after the database file was truncated:\n" + "\n".join(after)
