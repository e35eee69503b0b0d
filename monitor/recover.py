"""Copy what can still be read from a damaged database into a new one (``infusion-monitor recover``).

A database that fails ``PRAGMA quick_check`` is never written into (see :class:`monitor.store.Store`).
:mod:`monitor.store.recovery` reads it table by table, skipping past pages that cannot be read, so
one damaged page costs the rows on that page, not the rest of the file. The new file gets the
current schema, every row that could be read, and an audit entry saying what was recovered from
where and how much could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.store import Store
from monitor.store.recovery import TableRecovery, copy_readable


class RecoverError(Exception):
    """The recovery cannot start (no source, or the target exists)."""


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
    fresh = Store(target)
    try:
        results = copy_readable(source, fresh)
        report = RecoveryReport(source, target, tuple(results))
        fresh.audit("database_recovered", user=None, source=str(source), rows=report.copied,
                    unreadable_spots=sum(t.unreadable_spots for t in results))
        return report
    finally:
        fresh.close()
