"""Row counts and checksums per session, computed the same way on the chair and on the server.

A copy is exact when, for every session and table, both sides hold the same number of rows and
the same checksum over the rows' canonical text (key and every value, ordered by key). Used by
the fault-injection tests and by ``infusion-monitor server compare``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from monitor.replication import server_store
from monitor.store import outbox

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


def local_digests(conn: sqlite3.Connection, session_id: str) -> list[TableDigest]:
    """Digests of one session in the chair's SQLite."""
    return [
        _digest(session_id, t, outbox.session_rows(conn, t, columns, session_id)) for t, columns in _COMPARED.items()
    ]


def server_digests(conn: psycopg.Connection, session_id: str, origins: Sequence[str]) -> list[TableDigest]:
    """Digests of one session as the server holds it for the chair database that sent as ``origins`` (its
    origin ids: one, or more when it took a new one after a restore, :func:`monitor.store.outbox.origins`)."""
    return [
        _digest(session_id, t, server_store.session_rows(conn, t, columns, session_id, origins))
        for t, columns in _COMPARED.items()
    ]
