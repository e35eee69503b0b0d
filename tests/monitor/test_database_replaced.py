"""Another database moved onto the open database's name under a running ``record`` (a backup put back, a
synchronising tool replacing the file): the recording goes on into a recovered copy, and the file that took
the name is left as it was."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path

from tests.faults.helpers import CommandLine, integrity

DONE = re.compile(r"session (\w+) (closed|complete|unfinished): (\d+) readings stored")


def _sessions(path: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(path)
    try:
        return [(row[0], row[1]) for row in conn.execute(
            "SELECT s.id, (SELECT count(*) FROM readings r WHERE r.session_id = s.id) FROM sessions s ORDER BY s.id")]
    finally:
        conn.close()


def test_a_database_moved_onto_the_open_ones_name_is_left_intact(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    made = CommandLine("record", "--db", str(other), "--speed", "max", "--duration", "1", "--quiet")
    assert made.finish() == 0, made.output()
    kept = _sessions(other)
    assert len(kept) == 1 and kept[0][1] > 0

    db = tmp_path / "monitor.db"
    run = CommandLine("record", "--db", str(db), "--speed", "20", "--duration", "12", "--quiet")
    run.wait_for("session ", timeout=30)
    time.sleep(4.0)
    os.rename(other, db)
    run.wait_for("database_moved", timeout=6)
    assert run.finish() == 0, run.output()
    [done] = [m for text in run.output() if (m := DONE.search(text))]
    recovered = list(tmp_path.glob("monitor.db.recovered-*.db"))
    assert len(recovered) == 1, run.output()
    assert _sessions(recovered[0]) == [(done.group(1), int(done.group(3)))]
    # The file that took the name is the other database, whole: its session and every one of its readings.
    assert integrity(db) == "ok"
    assert _sessions(db) == kept, (_sessions(db), kept, sorted(p.name for p in tmp_path.iterdir()))
