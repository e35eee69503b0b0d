"""Reading every row still readable from a damaged database into a new one (for :mod:`monitor.recover`).

The damaged file is opened read-only and read table by table in rowid order; where a page cannot
be read, the reading skips forward (further each time the damage goes on) and carries on, so one
damaged page costs the rows on that page, not the rest of the file.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.store import chain, outbox, runs

if TYPE_CHECKING:
    from monitor.store.database import Store

#: Tables copied, parents first (foreign keys).
TABLES = ("patients", "sessions", "readings", "waveforms", "events", "alarms", "audit", "feed_queue", "feed_cursor",
          runs.TABLE)
#: Rowids skipped at a time past an unreadable spot (grows while the damage goes on).
SKIP_START = 1
SKIP_MAX = 1 << 20


@dataclass(frozen=True, slots=True)
class TableRecovery:
    """What was copied from one table."""

    table: str
    copied: int
    unreadable_spots: int


def copy_readable(source: Path, fresh: Store) -> list[TableRecovery]:
    """Copy every readable row of the damaged database ``source`` into ``fresh``, table by table."""
    damaged = chain.connect_read_only(source)
    try:
        return [_copy_table(damaged, fresh, table) for table in TABLES]
    finally:
        damaged.close()


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """How a database sent to the clinic's server: its origin ids (newest first) and how far it had got."""

    origins: tuple[str, ...]
    progress: outbox.LocalProgress
    #: How far the server had its rows under each earlier origin (:func:`monitor.store.outbox.earlier_origins`).
    earlier: tuple[outbox.EarlierOrigin, ...] = ()


def server_identity(source: Path) -> ServerIdentity | None:
    """The damaged database's server identity (None: it never sent to a server).

    Raises :class:`sqlite3.DatabaseError` when the file sent to a server but its record of that cannot be
    read whole.
    """
    damaged = chain.connect_read_only(source)
    try:
        if not outbox.installed(damaged):
            return None
        origins = outbox.origins(damaged)
        if not origins:
            raise sqlite3.DatabaseError("the origin id is missing")
        try:
            return ServerIdentity(tuple(origins), outbox.progress(damaged), tuple(outbox.earlier_origins(damaged)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a mark or a reach written otherwise
            raise sqlite3.DatabaseError(f"unreadable progress: {exc}") from exc
    finally:
        damaged.close()


def _copy_table(damaged: sqlite3.Connection, fresh: Store, table: str) -> TableRecovery:
    columns = [row[1] for row in fresh.db.execute(f"PRAGMA table_info({table})").fetchall()]
    try:
        present = {row[1] for row in damaged.execute(f"PRAGMA table_info({table})").fetchall()}
    except sqlite3.DatabaseError:
        return TableRecovery(table, 0, 1)
    kept = [c for c in columns if c in present]
    if not kept:
        return TableRecovery(table, 0, 0)
    names = ", ".join(f'"{c}"' for c in kept)
    insert = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' for _ in kept)})"
    after = -(1 << 62)
    copied = spots = 0
    skip = SKIP_START
    try:
        last_rowid = damaged.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:
        last_rowid = None
    fresh.db.execute("PRAGMA foreign_keys = OFF")  # a parent row may be among the unreadable ones
    try:
        while True:
            batch: list[tuple[object, ...]] = []
            try:
                for row in damaged.execute(f"SELECT rowid, {names} FROM {table} WHERE rowid > ? ORDER BY rowid",
                                           [after]):
                    after = row[0]
                    batch.append(tuple(row[1:]))
                    if len(batch) >= 1000:
                        copied += _insert(fresh, insert, batch)
                        batch = []
                copied += _insert(fresh, insert, batch)
                return TableRecovery(table, copied, spots)
            except sqlite3.DatabaseError:
                copied += _insert(fresh, insert, batch)
                spots += 1
                if last_rowid is None or after >= last_rowid or skip > SKIP_MAX:
                    return TableRecovery(table, copied, spots)
                after += skip
                skip *= 2
    finally:
        fresh.db.execute("PRAGMA foreign_keys = ON")


def _insert(fresh: Store, sql: str, rows: list[tuple[object, ...]]) -> int:
    if not rows:
        return 0
    with fresh.transaction():
        fresh.db.conn.executemany(sql, rows)
    return len(rows)
