"""4 KB of random bytes in the middle of a recorded database.

The damaged file is refused by every command that opens it (export, record, sessions) with a message
naming the recovery command, and nothing writes into it; ``infusion-monitor recover`` copies what
can still be read into a new file that passes the integrity check.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

from tests.conftest import record_simulated
from tests.faults.helpers import CommandLine, integrity

PAGE = 4096


def _damage(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, as after a clean close
    conn.close()
    size = path.stat().st_size
    rng = random.Random(13)
    page = (size // PAGE) // 2
    with open(path, "r+b") as handle:
        handle.seek(page * PAGE)
        handle.write(bytes(rng.randrange(256) for _ in range(PAGE)))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_damaged_database_is_refused_and_what_can_be_read_is_recovered(db_path: Path, tmp_path: Path) -> None:
    session_id = record_simulated(db_path, plan="baseline:2,infusion:40,recovery:20")
    conn = sqlite3.connect(db_path)
    stored = conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    conn.close()
    _damage(db_path)
    damaged = _digest(db_path)

    for args in (["export", session_id[:8], "--format", "csv", "--out", str(tmp_path / "out.csv")],
                 ["record", "--speed", "60", "--duration", "2"],
                 ["sessions"]):
        run = CommandLine(*args, "--db", str(db_path))
        assert run.finish() == 1, (args, run.output())
        text = "\n".join(run.output())
        assert "is damaged" in text and f"infusion-monitor recover {db_path}" in text, text
    assert _digest(db_path) == damaged, "something wrote into the damaged file"
    assert not (tmp_path / "out.csv").exists()

    recovered = tmp_path / "recovered.db"
    run = CommandLine("recover", str(db_path), str(recovered))
    assert run.finish() == 0, run.output()
    assert integrity(recovered) == "ok"
    conn = sqlite3.connect(recovered)
    try:
        copied = conn.execute("SELECT COUNT(*) FROM readings WHERE session_id = ?", [session_id]).fetchone()[0]
        sessions = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    finally:
        conn.close()
    assert sessions == 1
    assert 0.5 * stored < copied <= stored  # one damaged page costs its rows, not the session
    print(f"recovered {copied} of {stored} readings")
    run = CommandLine("export", session_id[:8], "--db", str(recovered), "--format", "csv",
                      "--out", str(tmp_path / "recovered.csv"))
    assert run.finish() == 0, run.output()
