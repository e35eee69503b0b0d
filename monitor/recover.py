"""Copy what can still be read from a damaged database into a new one (``infusion-monitor recover``).

A database that fails ``PRAGMA quick_check`` is never written into (see :class:`monitor.store.Store`).
:mod:`monitor.store.recovery` reads it table by table, skipping past pages that cannot be read, so
one damaged page costs the rows on that page, not the rest of the file. The new file gets the
current schema, every row that could be read, and an audit entry saying what was recovered from
where and how much could not be read.

A damaged file that sent to the clinic's server hands its server identity on (its origin id and how far
the server has it): rows keep their local ids, so the server recognises them and holds each once. Every
recovered row is queued again; sending one the server has changes nothing. When that record cannot be
read, the new file sends as a new origin and the report says the server will then hold its rows under
both origins.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

from monitor import accounts, integrity
from monitor.store import Store, chain, outbox
from monitor.store import accounts as account_rows
from monitor.store.recovery import ServerIdentity, TableRecovery, copy_readable, server_identity

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"


class RecoverError(Exception):
    """The recovery cannot start (no source, or the target exists)."""


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """The outcome of a recovery, table by table."""

    source: Path
    target: Path
    tables: tuple[TableRecovery, ...]
    #: The damaged file's server identity, carried over (None: it never sent to a server, or see below).
    identity: ServerIdentity | None = None
    #: The damaged file sent to a server but its record of that could not be read.
    identity_lost: bool = False
    #: Accounts carried over as this program last wrote them; those left behind (altered or unreadable).
    accounts: tuple[str, ...] = ()
    accounts_left: tuple[str, ...] = ()
    #: What the damaged file's own record check said before the copy (``verified``, ``NOT VERIFIED: …``, or why
    #: it could not be checked).
    damaged_check: str = ""

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
        if self.identity is not None:
            origin = self.identity.origins[0][:8]
            out.append(f"  sends to the clinic's server as the damaged file did (origin {origin}); "
                       "every row is queued again and the server holds each once")
        elif self.identity_lost:
            out.append("  the damaged file's record of what it sent to the clinic's server could not be read: this "
                       "file sends as a new origin, and the server will hold its rows under both origins")
        if self.damaged_check:
            out.append(f"  the damaged file's own record check: {self.damaged_check} (the copied rows are sealed "
                       "as recovered; `verify` counts them)")
        # Counts only: which names exist is an admin's to know (`users list --user ADMIN` on the new file), not
        # whoever runs recover's; the names are in the new file's audit entry too.
        if self.accounts:
            out.append(f"  accounts: {len(self.accounts)} carried over (an admin lists them with `users list`)")
        if self.accounts_left:
            out.append(f"  accounts left behind (altered outside this program or unreadable): "
                       f"{len(self.accounts_left)}")
        return out


def check_damaged_record(source: Path, fresh: Store) -> str:
    """The damaged file's own record check (its hash chain, with this computer's key), as far as it can be read:
    what the copy's trust rests on, kept in the new file's audit log."""
    if fresh.keys is None:
        return "not checked (no key file)"
    try:
        conn = chain.connect_read_only(source)
        try:
            report = integrity.verify(conn, fresh.keys)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"could not be read whole ({exc})"
    if report.ok:
        return "verified"
    first = report.first_broken
    return "NOT VERIFIED: " + (first.text() if first is not None else
                               f"database integrity check: {report.integrity_check}")


def carry_accounts(source: Path, fresh: Store) -> tuple[list[str], list[str]]:
    """Write into ``fresh`` each account of the damaged file that is as this program last wrote it (its keyed
    hash and its links agree), sealed again; the names carried and those left behind.

    An account altered by hand in the damaged file stays behind: recovering never turns such a row into a
    trusted one. With every account left behind the new file still holds the audit entries that added them,
    so it offers no first-run admin to whoever opens it next.
    """
    if fresh.keys is None:
        return [], []
    carried: list[str] = []
    left: list[str] = []
    damaged = chain.connect_read_only(source)
    try:
        try:
            found = account_rows.users_of(damaged)
        except sqlite3.DatabaseError:
            return [], []
        for row in found:
            try:
                why = accounts.why_untrusted(fresh.keys, damaged, row)
            except sqlite3.DatabaseError:
                why = "unreadable"
            if why is not None:
                left.append(row.name)
                continue
            with fresh.sealed_write("users", [row.name]):
                account_rows.insert_user(fresh.db, replace(row, failures=0, locked_until=None))
            carried.append(row.name)
    finally:
        damaged.close()
    return carried, left


def recover(source: str | Path, target: str | Path) -> RecoveryReport:
    """Copy every readable row of ``source`` into the new database ``target``."""
    source, target = Path(source), Path(target)
    if not source.exists():
        raise RecoverError(f"no database at {source}")
    if target.exists():
        raise RecoverError(f"{target} exists; name a new file")
    try:
        with open(source, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise RecoverError(f"{source} cannot be read: {exc.strerror or exc}") from None
    if header != SQLITE_HEADER:
        # SQLite opens no file without its header, so not one row could be read: say so rather than make an
        # empty database and report "0 rows recovered".
        raise RecoverError(f"{source} is not an SQLite database (it does not start with SQLite's header): "
                           "nothing can be recovered from it; look for the clinic's database elsewhere or a backup")
    fresh = Store(target)
    try:
        damaged_check = check_damaged_record(source, fresh)
        results = copy_readable(source, fresh)
        if fresh.keys is not None:
            with fresh.transaction():
                # Sealed now, as copied by this program: found unsealed at the next start, they would read as
                # written outside it.
                integrity.seal(fresh.db.conn, fresh.keys, origin=integrity.ORIGIN_RECOVERED,
                               versions=integrity.EVERY_VERSION)
        try:
            identity, lost = server_identity(source), False
        except sqlite3.DatabaseError:
            identity, lost = None, True
        if identity is not None:
            outbox.carry_identity(fresh.db.conn, identity.origins, identity.progress, identity.earlier)
        carried, left = carry_accounts(source, fresh)
        report = RecoveryReport(source, target, tuple(results), identity, lost, tuple(carried), tuple(left),
                                damaged_check)
        fresh.audit("database_recovered", user=None, source=str(source), rows=report.copied,
                    damaged_record_check=damaged_check,
                    accounts=list(carried), accounts_left=list(left),
                    unreadable_spots=sum(t.unreadable_spots for t in results),
                    server_origin=identity.origins[0] if identity is not None else None)
        return report
    finally:
        fresh.close()

