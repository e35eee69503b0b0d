"""A second process never takes over a live session; a killed owner's session is free at once.

A real ``record`` runs; its heartbeat is made an hour old (as a disk stalled for an hour would
leave it). Another process's ``record --resume`` and ``close`` are refused and ``sessions`` lists
the session as recording, because the owner holds the session's file lock. After ``kill -9`` the
kernel drops the lock: the session is unfinished at once, and resuming it works.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.conftest import NURSE_SECRET
from tests.faults.helpers import CommandLine


def _statuses(db_path: Path) -> list[str]:
    # The database has accounts: the list (it shows MRNs) is read by a signed-in account.
    run = CommandLine("sessions", "--db", str(db_path), "--json", "--user", "RN",
                      env={"INFUSION_MONITOR_SECRET": NURSE_SECRET})
    assert run.finish() == 0, run.output()
    return [s["status"] for s in json.loads("\n".join(run.output()))]


def test_a_live_owner_keeps_its_session_and_a_dead_one_frees_it(db_path: Path, accounts_in: Any) -> None:
    accounts_in(db_path)  # resuming or closing another's session needs a sign-in: the refusal must be the lock's
    owner = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN")
    owner.wait_for("t+", timeout=30)
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        session_id = conn.execute("SELECT id FROM sessions").fetchone()[0]
        with conn:
            conn.execute("UPDATE sessions SET heartbeat_at = ?", [time.time() - 3600])
    finally:
        conn.close()
    try:
        assert _statuses(db_path) == ["recording"]
        for args in (["record", "--resume", session_id[:8], "--duration", "2", "--user", "RN"],
                     ["close", session_id[:8], "--user", "RN"]):
            second = CommandLine(*args, "--db", str(db_path), env={"INFUSION_MONITOR_SECRET": NURSE_SECRET})
            assert second.finish() == 1, second.output()
            assert any("is recording" in line or "being recorded" in line for line in second.output())
    finally:
        owner.kill()
    assert _statuses(db_path) == ["unfinished"]  # at once, not after a heartbeat timeout
    resumed = CommandLine("record", "--db", str(db_path), "--resume", session_id[:8], "--speed", "30",
                          "--duration", "2", "--user", "RN", env={"INFUSION_MONITOR_SECRET": NURSE_SECRET})
    assert resumed.finish() == 0, resumed.output()
    assert _statuses(db_path) == ["closed"]
    conn = sqlite3.connect(db_path)
    try:
        closed = conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'session_closed'").fetchone()[0]
        resumed_events = conn.execute("SELECT detail FROM events WHERE kind = 'session_resumed'").fetchall()
    finally:
        conn.close()
    assert closed == 1 and len(resumed_events) == 1
    assert json.loads(resumed_events[0][0])["gap_s"] >= 0
