"""Reads that checking the hash chain needs beyond the row-by-row ones in :mod:`monitor.integrity`.

Plain functions over an open connection (a verifying process of its own has no :class:`Store`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Lowest and highest INTEGER PRIMARY KEY SQLite allows: the ends of the open id gaps.
SMALLEST_ID = -(2**63)
LARGEST_ID = 2**63 - 1


def rows_in_id_gaps(conn: sqlite3.Connection, table: str, gaps: Iterable[tuple[int, int]],
                    session_id: str | None = None) -> Iterator[tuple[int, str | None]]:
    """``(id, session_id)`` of the rows of ``table`` whose id lies in one of ``gaps`` (inclusive id ranges,
    in ascending order), in id order; with ``session_id`` only that session's rows and rows of no session."""
    where = "id BETWEEN ? AND ?"
    if session_id is not None:
        where += " AND (session_id = ? OR session_id IS NULL)"
    sql = f"SELECT id, session_id FROM {table} WHERE {where} ORDER BY id"
    for lo, hi in gaps:
        args: list[object] = [lo, hi] if session_id is None else [lo, hi, session_id]
        for row_id, owner in conn.execute(sql, args):
            yield int(row_id), owner


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that can only read the database at ``path`` (waiting up to 10 s for a writer's lock)."""
    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn
