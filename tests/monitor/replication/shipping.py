"""Helpers the replication tests share: waiting for a replicator to catch up, comparing both sides."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg

from monitor.replication import compare
from monitor.replication.replicator import Replicator


def drain(replicator: Replicator, timeout: float = 30.0) -> None:
    """Nudge ``replicator`` until it is connected with nothing pending; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = replicator.status()
        if status.connected and status.pending_rows == 0:
            return
        replicator.nudge()
        time.sleep(0.05)
    raise AssertionError(f"replication did not catch up: {replicator.status()}")


def assert_same(db_path: Path, admin_url: str, origin: str) -> list[compare.TableDigest]:
    """Assert every local session's tables digest the same on the server; returns the local digests."""
    with sqlite3.connect(db_path) as local, psycopg.connect(admin_url) as server:
        session_ids = [r[0] for r in local.execute("SELECT id FROM sessions")]
        assert session_ids
        out = []
        for session_id in session_ids:
            mine = compare.local_digests(local, session_id)
            theirs = compare.server_digests(server, session_id, origin)
            assert mine == theirs
            out.extend(mine)
        return out
