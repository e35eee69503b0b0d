"""Helpers the replication tests share: sessions recorded at chairs, replication run to the end, both sides compared."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg

from monitor.replication import compare
from monitor.replication.replicator import ReplicationStatus, Replicator
from monitor.store import Store, outbox
from tests.conftest import record_simulated


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


def first_error(replicator: Replicator, timeout: float = 10.0) -> ReplicationStatus:
    """Start ``replicator``, wait up to ``timeout`` seconds for it to report an error, stop it; its last status."""
    replicator.start()
    try:
        deadline = time.monotonic() + timeout
        while replicator.status().error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return replicator.status()
    finally:
        replicator.stop(timeout=0.5)


def assert_same(db_path: Path, admin_url: str, origin: str | None = None) -> list[compare.TableDigest]:
    """Assert every local session's tables digest the same on the server (as sent under ``origin``, or under
    every origin id the file sent as); returns the local digests."""
    with sqlite3.connect(db_path) as local, psycopg.connect(admin_url) as server:
        session_ids = [r[0] for r in local.execute("SELECT id FROM sessions")]
        assert session_ids
        out = []
        for session_id in session_ids:
            mine = compare.local_digests(local, session_id)
            theirs = compare.server_digests(server, session_id, [origin] if origin else outbox.origins(local))
            assert mine == theirs
            out.extend(mine)
        return out


def publish_before_schema_8(conn: psycopg.Connection, name: str, origin: str, host: str,
                            live_json: str | None) -> list[tuple[str, str]]:
    """How a chair wrote its station row before schema 8, straight into ``chairs`` (for tests of a chair of an
    earlier version on a server of its time: ``server_writes.publish_chair`` patched with this)."""
    conn.execute("INSERT INTO chairs (name, origin, host, seen_at, live) VALUES (%s, %s, %s, now(), %s::jsonb) "
                 "ON CONFLICT (chair, origin) DO UPDATE SET seen_at = now(), "
                 "live = COALESCE(EXCLUDED.live, chairs.live)", [name, origin, host, live_json])
    return []


def replicate(db: Path, url: str) -> Replicator:
    """Ship everything in the chair database ``db`` to the server at ``url``, then stop; the stopped replicator
    (its origin and last status)."""
    replicator = Replicator(db, url)
    replicator.start()
    try:
        drain(replicator)
    finally:
        replicator.stop()
    return replicator


def record_for(db: Path, mrn: str, start: float, seed: int) -> str:
    """Record a simulated session for the patient ``mrn`` in ``db``; returns its id."""
    session_id = record_simulated(db, seed=seed, start_time=start)
    with Store(db) as store:
        store.assign_patient(session_id, store.create_patient(mrn))
    return session_id


def patient_at_two_chairs(folder: Path, chair_url: str, mrn: str, seeds: tuple[int, int],
                          other: tuple[str, int] | None = None) -> tuple[Path, Path, str, str]:
    """``mrn`` treated at chair a, a week later at chair b (``other``, an (MRN, seed), a day after at chair b).

    Both chairs are replicated to ``chair_url``; returns both databases and the patient's two sessions.
    """
    chair_a, chair_b = folder / "a.db", folder / "b.db"
    first = record_for(chair_a, mrn, 1_790_000_000.0, seeds[0])
    second = record_for(chair_b, mrn, 1_790_600_000.0, seeds[1])
    if other is not None:
        record_for(chair_b, other[0], 1_790_700_000.0, other[1])
    replicate(chair_a, chair_url)
    replicate(chair_b, chair_url)
    return chair_a, chair_b, first, second
