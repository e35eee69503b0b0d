"""Copy what can still be read from a damaged database into a new one (``infusion-monitor recover``).

A database that fails ``PRAGMA quick_check`` is never written into (see :class:`monitor.store.Store`).
This reads it table by table in rowid order; where a page cannot be read, it skips forward and
carries on, so one damaged page costs the rows on that page, not the rest of the file. The new
file gets the current schema, every row that could be read, and an audit entry saying what was
recovered from where and how much could not be read.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from monitor.store import Store

#: Tables copied, parents first (foreign keys).
TABLES = ("patients", "sessions", "readings", "waveforms", "events", "alarms", "audit", "feed_queue", "feed_cursor")
#: Rowids skipped at a time past an unreadable spot (grows while the damage goes on).
SKIP_START = 1
SKIP_MAX = 1 << 20


class RecoverError(Exception):
    """The recovery cannot start (no source, or the target exists)."""


@dataclass(frozen=True, slots=True)
class TableRecovery:
    """What was copied from one table."""

    table: str
    copied: int
    unreadable_spots: int


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """The outcome of a recovery, table by table."""

    source: Path
    target: Path
    tables: tuple[TableRecovery, ...]

    @property
    def copied(self) -> int:
        """Rows copied in all."""
        return sum(t.copied for t in self.tables)

    def lines(self) -> list[str]:
        """A human-readable summary."""
        out = [f"recovered {self.copied} rows from {self.source} into {self.target}"]
        for t in self.tables:
            damaged = f", {t.unreadable_spots} unreadable spot(s) skipped" if t.unreadable_spots else ""
            out.append(f"  {t.table}: {t.copied} rows{damaged}")
        return out


def recover(source: str | Path, target: str | Path) -> RecoveryReport:
    """Copy every readable row of ``source`` into the new database ``target``."""
    source, target = Path(source), Path(target)
    if not source.exists():
        raise RecoverError(f"no database at {source}")
    if target.exists():
        raise RecoverError(f"{target} exists; name a new file")
    damaged = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    fresh = Store(target)
    results = []
    try:
        for table in TABLES:
            results.append(_copy_table(damaged, fresh, table))
        report = RecoveryReport(source, target, tuple(results))
        fresh.audit("database_recovered", user=None, source=str(source), rows=report.copied,
                    unreadable_spots=sum(t.unreadable_spots for t in results))
        return report
    finally:
        damaged.close()
        fresh.close()


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
