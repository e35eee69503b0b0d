"""Row counts and checksums per session, computed the same way on the chair and on the server.

A copy is exact when, for every session and table, both sides hold the same number of rows and
the same checksum over the rows' canonical text (key and every value, ordered by key). Used by
the fault-injection tests and by ``infusion-monitor server compare``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

# (table, columns compared) – the columns every version of both schemas has.
_COMPARED: dict[str, tuple[str, ...]] = {
    "sessions": ("id", "patient_id", "started_at", "ended_at", "status", "phase", "phases_reached", "baseline"),
    "readings": ("id", "t", "parameter", "value", "unit", "status", "source"),
    "waveforms": ("id", "parameter", "t0", "rate_hz", "n", "samples"),
    "events": ("id", "t", "kind", "phase", "user", "detail"),
    "alarms": ("id", "condition", "priority", "started_at", "ended_at", "acknowledged_at", "state"),
    "audit": ("id", "at", "user", "action", "detail"),
}


@dataclass(frozen=True, slots=True)
class TableDigest:
    """One table's rows of one session: how many, and their checksum."""

    session_id: str
    table: str
    rows: int
    sha256: str


def _canonical(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return str(value)


def _digest(session_id: str, table: str, rows: Iterable[tuple[Any, ...]]) -> TableDigest:
    h = hashlib.sha256()
    count = 0
    for row in rows:
        count += 1
        h.update("\x1f".join(_canonical(v) for v in row).encode())
        h.update(b"\x1e")
    return TableDigest(session_id, table, count, h.hexdigest())


def _select(table: str, *, server: bool) -> str:
    columns = []
    for column in _COMPARED[table]:
        if column == "id" and server and table in ("readings", "waveforms", "events", "audit"):
            columns.append("local_id")
        else:
            columns.append(f'"{column}"')
    key = "id" if table == "sessions" else "session_id"
    order = "local_id" if server and table != "sessions" and table != "alarms" else "id"
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = {'%s' if server else '?'}"
    if server:
        sql += " AND origin = %s"
    return sql + f" ORDER BY {order}"


def local_digests(conn: sqlite3.Connection, session_id: str) -> list[TableDigest]:
    """Digests of one session in the chair's SQLite."""
    return [_digest(session_id, t, conn.execute(_select(t, server=False), [session_id])) for t in _COMPARED]


def server_digests(conn: psycopg.Connection, session_id: str, origin: str) -> list[TableDigest]:
    """Digests of one session as the server holds it for the chair database ``origin``."""
    return [
        _digest(session_id, t, conn.execute(_select(t, server=True), [session_id, origin]).fetchall())
        for t in _COMPARED
    ]
