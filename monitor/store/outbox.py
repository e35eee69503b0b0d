"""The chair's local outbox: what is written to SQLite and not yet on the server (:mod:`monitor.replication`).

Triggers on every replicated table add ``(table, key)`` to ``replication_outbox`` inside the
writing transaction, whoever writes (the recorder, a review addendum, another process): a row
cannot be committed without its outbox entry, and an entry cannot exist without its row. The
outbox names rows rather than copying them, so an alarm updated five times is shipped in its
latest state. Once installed the triggers stay in the file: a chair restarted without a server
keeps queueing, and ships everything when the server is back. :func:`session_rows` reads a
session's replicated rows for comparison with the server's copy (:mod:`monitor.replication.compare`).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Replicated tables in dependency order, with how a row is named: "id" is a random text key
#: (the same on every computer), "local" an integer key unique only within this file.
TABLES: dict[str, str] = {
    "patients": "id",
    "sessions": "id",
    "readings": "local",
    "waveforms": "local",
    "events": "local",
    "alarms": "id",
    "audit": "local",
}

_NOW = "((julianday('now') - 2440587.5) * 86400.0)"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One row to ship: its outbox sequence number, table and key (text, as stored)."""

    seq: int
    table: str
    key: str
    queued_at: float


@dataclass(frozen=True, slots=True)
class OutboxState:
    """How far behind the server this chair is."""

    pending: int
    oldest_queued_at: float | None


def connect(path: Path) -> sqlite3.Connection:
    """The replicator's own connection to the chair's database (autocommit; waits up to 10 s for a writer)."""
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def install(conn: sqlite3.Connection) -> str:
    """Create the outbox and its triggers if missing; return this database's random origin id.

    On first installation every existing row is queued, so a chair that recorded for months
    before it had a server ships its whole history.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS replication_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        row = conn.execute("SELECT value FROM replication_state WHERE key = 'origin'").fetchone()
        if row is None:
            origin = uuid.uuid4().hex
            conn.execute("INSERT INTO replication_state (key, value) VALUES ('origin', ?)", [origin])
            conn.execute(
                "CREATE TABLE replication_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "tbl TEXT NOT NULL, row_key TEXT NOT NULL, queued_at REAL NOT NULL)"
            )
            for table in TABLES:
                conn.execute(
                    f"INSERT INTO replication_outbox (tbl, row_key, queued_at) "
                    f"SELECT '{table}', CAST(id AS TEXT), {_NOW} FROM {table} ORDER BY rowid"
                )
        else:
            origin = str(row[0])
        for table in TABLES:
            for event in ("INSERT", "UPDATE"):
                conn.execute(
                    f"CREATE TRIGGER IF NOT EXISTS replicate_{table}_{event.lower()} AFTER {event} ON {table} "
                    f"BEGIN INSERT INTO replication_outbox (tbl, row_key, queued_at) "
                    f"VALUES ('{table}', CAST(NEW.id AS TEXT), {_NOW}); END"
                )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return origin


def installed(conn: sqlite3.Connection) -> bool:
    """True when this database queues its rows for a server."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'replication_outbox'"
    ).fetchone()
    return row is not None


def take(conn: sqlite3.Connection, limit: int) -> list[OutboxEntry]:
    """The oldest ``limit`` entries, in the order they were committed."""
    rows = conn.execute(
        "SELECT seq, tbl, row_key, queued_at FROM replication_outbox ORDER BY seq LIMIT ?", [limit]
    ).fetchall()
    return [OutboxEntry(int(seq), str(tbl), str(key), float(at)) for seq, tbl, key, at in rows]


def rows_for(conn: sqlite3.Connection, table: str, keys: Sequence[str]) -> list[dict[str, object]]:
    """Current content of the named rows (rows since deleted are simply absent)."""
    if table not in TABLES:
        raise ValueError(f"'{table}' is not a replicated table")
    out: list[dict[str, object]] = []
    cursor = conn.cursor()
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        if TABLES[table] == "local":
            params: list[object] = [int(k) for k in chunk]
        else:
            params = list(chunk)
        cursor.execute(f"SELECT * FROM {table} WHERE id IN ({', '.join('?' for _ in chunk)})", params)
        names = [d[0] for d in cursor.description]
        out.extend(dict(zip(names, values, strict=True)) for values in cursor.fetchall())
    return out


def acknowledge(conn: sqlite3.Connection, up_to_seq: int) -> None:
    """Forget entries the server has committed (called after its transaction succeeded)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM replication_outbox WHERE seq <= ?", [up_to_seq])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def state(conn: sqlite3.Connection) -> OutboxState:
    """Entries waiting and when the oldest was queued."""
    count, oldest = conn.execute("SELECT COUNT(*), MIN(queued_at) FROM replication_outbox").fetchone()
    return OutboxState(int(count), None if oldest is None else float(oldest))


def session_rows(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], session_id: str
) -> list[tuple[Any, ...]]:
    """The ``columns`` of one session's rows of ``table``, ordered by key (to compare with the server's copy)."""
    key = "id" if table == "sessions" else "session_id"
    names = ", ".join(f'"{c}"' for c in columns)
    return conn.execute(f"SELECT {names} FROM {table} WHERE {key} = ? ORDER BY id", [session_id]).fetchall()
