"""A record that shows tampering: keyed hash chains over the audit log, events, alarms, sessions, readings and
waveforms.

Every row the program writes to those tables is *sealed* in the same transaction: a link is
appended to the ``chain`` table carrying a SHA-256 of the row's content and an HMAC-SHA256,
under a key kept outside the database (:mod:`monitor.keys`), of that content hash and of the
previous link's HMAC. Audit entries and events get one link per row, an alarm and a session one link
per version (an alarm's state, a session's patient, phase and status change), readings and waveform
blocks one link per written range.
``chain_head`` holds the last link under its own HMAC so that cutting links off the end shows.

:func:`verify` walks the chain and compares every link with the row it names. Without the key
nobody can write a link that verifies, so a changed, deleted or inserted row, a removed link or
a cut-off chain is found and named. What this does not catch (a whole database swapped for an
older copy of itself, an attacker who holds the key) is in the README's threat model.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from monitor.keys import Keys
from monitor.store import chain, outbox, restores

#: Tables sealed one link per row (append-only, integer ids).
ROW_TABLES: Final = ("audit", "events")
#: Tables sealed one link per written id range (append-only, integer ids, many rows).
RANGE_TABLES: Final = ("readings", "waveforms")
#: The columns sealed of a session: all but who owns it now and its heartbeat, which change while it records
#: and say nothing of the patient's record.
SESSION_COLUMNS: Final = (
    "id", "patient_id", "started_at", "ended_at", "status", "phase", "phases_reached", "driver", "port", "device",
    "plan", "baseline", "nurse", "protocol", "protocol_sha256",
)
#: The columns sealed of an account: all but the count of failed sign-ins and the lock-out they caused, which
#: every wrong guess changes.
USER_COLUMNS: Final = ("name", "role", "secret_hash", "disabled", "created_at", "created_by", "changed_at", "mac")


@dataclass(frozen=True, slots=True)
class Versioned:
    """A table whose rows change, sealed one link per version of a row."""

    #: The column that names a row (the link's ``row_key``).
    key: str
    #: The columns sealed (None: all).
    columns: tuple[str, ...] | None
    #: The column naming the row's session (None: its rows belong to no session).
    owner: str | None
    #: The order rows are sealed in when every row is compared (at start-up and upgrades).
    order: str


#: An alarm's state; a session's patient, phase and status; an account's role, secret and state; a profile
#: approval and its revocation.
VERSIONED: Final[dict[str, Versioned]] = {
    "alarms": Versioned("id", None, "session_id", "started_at, id"),
    "sessions": Versioned("id", SESSION_COLUMNS, "id", "started_at, id"),
    "users": Versioned("name", USER_COLUMNS, None, "created_at, name"),
    "profile_approvals": Versioned("sha256", None, None, "approved_at, sha256"),
}
VERSIONED_TABLES: Final = tuple(VERSIONED)
#: The tables whose rows grant something (a role, an approved profile): their links also run in an order of
#: their own, ending in the head, so the row a sign-in rests on is checked without walking the whole chain.
ACCOUNT_TABLES: Final = ("users", "profile_approvals")
#: ``versions`` for :func:`seal` that compares every row of every versioned table.
EVERY_VERSION: Final[Mapping[str, None]] = dict.fromkeys(VERSIONED_TABLES)

#: How a link came to be: written by the program, found at the upgrade that introduced sealing,
#: or found unsealed later (rows written by something other than this program).
ORIGIN_WRITE: Final = "write"
ORIGIN_UPGRADE: Final = "upgrade"
ORIGIN_OUTSIDE: Final = "outside"
#: Rows ``recover`` copied out of a damaged file: sealed as such (the program vouches for the copy, and the damaged
#: file's own check at that time is in the ``database_recovered`` audit entry), not as its own writes.
ORIGIN_RECOVERED: Final = "recovered"

#: The schema version with which each versioned table joined the chain: a database of an earlier schema holds its
#: rows unsealed because that version sealed none of them, not because they were added outside the program.
#: (The audit log, events, alarms, readings and waveforms joined with the chain itself, at schema 4.)
JOINED_AT: Final = {"alarms": 4, "sessions": 5, "users": 6, "profile_approvals": 6}
#: The first schema with a chain.
CHAIN_SCHEMA: Final = 4
#: Tables only a database with the chain has (made at schema 4 and later): one whose version says it predates the
#: chain but holds any of them had its version set back outside this program, and an upgrade would seal its rows
#: afresh, edits included.
CHAINED_SCHEMA_TABLES: Final = ("chain", "chain_head", "security", "users", "profile_approvals", "writer_runs")

#: How an admin accepts a database put back from a backup (said wherever the missing records are named).
ACCEPT_RESTORE: Final = "infusion-monitor verify --accept-restore --user ADMIN"

#: Triggers whose absence is itself a finding.
EXPECTED_TRIGGERS: Final = ("audit_no_update", "audit_no_delete")


# -- content --------------------------------------------------------------------------------------


def _canonical(row: dict[str, Any]) -> str:
    # repr of (column, value) pairs in column order: exact for text, integers, floats (shortest
    # round-trip form), bytes and NULL, and done in C (a 90-minute session is ~16,000 rows).
    return repr(tuple(row.items()))


def row_content(conn: sqlite3.Connection, table: str, row_key: str) -> str | None:
    """SHA-256 of one row (or of an id range ``lo-hi`` of a range table); None when it is gone."""
    if table in RANGE_TABLES:
        lo, _, hi = row_key.partition("-")
        names, rows = chain.id_range(conn, table, int(lo), int(hi))
        # Each row hashes as repr(tuple(zip(names, values))) + "\n"; a template with the names filled
        # in gives the same text four times faster (a 24-hour session checks ~260,000 reading rows),
        # and the range's rows are hashed as one text (a range is a few hundred rows at most).
        template = "(" + ", ".join(f"({name!r}, %r)" for name in names)
        template += ",)\n" if len(names) == 1 else ")\n"
        if len(rows) != int(hi) - int(lo) + 1:
            return None
        return hashlib.sha256("".join(map(template.__mod__, rows)).encode()).hexdigest()
    found = _versioned_row(conn, table, row_key) if table in VERSIONED_TABLES else chain.row(conn, table, int(row_key))
    return None if found is None else hashlib.sha256(_canonical(found).encode()).hexdigest()


def _versioned_row(conn: sqlite3.Connection, table: str, row_key: str) -> dict[str, Any] | None:
    """The sealed columns of one row of a versioned table."""
    spec = VERSIONED[table]
    return chain.row(conn, table, row_key, spec.columns, spec.key)


def link_mac(keys: Keys, seq: int, table: str, row_key: str, session_id: str | None, origin: str, at: float,
             content: str, previous: str, account_seq: int | None = None) -> str:
    """The keyed hash of one link: its place (and its place among the accounts' links), the row it names, that
    row's content and the link before."""
    parts = [str(seq), table, row_key, session_id or "", origin, repr(at), content, previous]
    if account_seq is not None:
        parts.append(str(account_seq))
    return _keyed_hash(keys.integrity, "\x1f".join(parts))


#: SHA-256's block size: an HMAC key is padded to it (RFC 2104).
_BLOCK = 64


@functools.lru_cache(maxsize=4)
def _keyed(secret: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 keyed with ``secret`` (RFC 2104) as its inner and outer SHA-256 states, nothing hashed yet: copied
    for each message. A chain holds millions of links a year; keying anew for each, or going through the
    :mod:`hmac` wrapper's copy, took twice or 1.6 times as long. Equal to :func:`hmac.digest` (tested)."""
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key))


def _keyed_hash(secret: bytes, message: str) -> str:
    """HMAC-SHA256 of ``message`` (UTF-8) under ``secret``, as hex."""
    inner_state, outer_state = _keyed(secret)
    inner = inner_state.copy()
    inner.update(message.encode())
    outer = outer_state.copy()
    outer.update(inner.digest())
    return str(outer.hexdigest())


def head_mac(keys: Keys, seq: int, mac: str, account_count: int = 0, account_mac: str = "") -> str:
    """The keyed hash of the chain's end and of where the accounts' links end (so links cut off either, or
    an earlier end put back for one alone, are noticed)."""
    message = f"head\x1f{seq}\x1f{mac}" + (f"\x1f{account_count}\x1f{account_mac}" if account_count else "")
    return _keyed_hash(keys.integrity, message)


# -- sealing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Link:
    table: str
    row_key: str
    session_id: str | None
    content: str
    origin: str


def _last_sealed(conn: sqlite3.Connection, table: str) -> int:
    """The highest id of ``table`` the chain holds (0: none); a range's key ``lo-hi`` ends with it."""
    for row_key in chain.row_keys_newest_first(conn, table):
        try:
            return int(row_key.rpartition("-")[2])
        except ValueError:
            continue  # a link altered by hand to name no row of this table: verify names it; it must not stop us
    return 0


def _range_links(conn: sqlite3.Connection, table: str, ids: list[tuple[int, str | None]],
                 origin: str) -> list[_Link]:
    """One link over contiguous ids (a gap: one link per row)."""
    if not ids:
        return []
    lo, hi = ids[0][0], ids[-1][0]
    sessions = {session for _, session in ids}
    key = f"{lo}-{hi}"
    content = row_content(conn, table, key) if hi - lo + 1 == len(ids) else None
    if content is None:
        return [_Link(table, f"{i}-{i}", session, row_content(conn, table, f"{i}-{i}") or "", origin)
                for i, session in ids]
    return [_Link(table, key, next(iter(sessions)) if len(sessions) == 1 else None, content, origin)]


def _unsealed(conn: sqlite3.Connection, versions: Mapping[str, Iterable[str] | None], origin: str,
              expected: Mapping[str, int] | None) -> list[_Link]:
    """Links for rows not yet sealed. With ``expected`` (rows this transaction added, per table) any
    further unsealed rows (the older ids) were written by something else and are marked so."""

    def origin_of(table: str, position: int, count: int) -> str:
        if expected is None:
            return of_table(table)
        foreign = count - expected.get(table, 0)
        return ORIGIN_OUTSIDE if position < foreign else origin

    joining: dict[str, bool] = {}

    def of_table(table: str) -> str:
        # An upgrade seals the tables that join the chain with it. A table the chain already holds links of was
        # sealed with every write since: a row of it found unsealed (or changed) then was written from outside.
        if origin != ORIGIN_UPGRADE:
            return origin
        if table not in joining:
            joining[table] = next(chain.row_keys_newest_first(conn, table), None) is None
        return origin if joining[table] else ORIGIN_OUTSIDE

    links: list[_Link] = []
    for table in ROW_TABLES:
        last = _last_sealed(conn, table)
        rows = chain.rows_after(conn, table, last)
        for position, row in enumerate(rows):
            content = hashlib.sha256(_canonical(row).encode()).hexdigest()
            links.append(_Link(table, str(row["id"]), row.get("session_id"), content,
                               origin_of(table, position, len(rows))))
    for table in RANGE_TABLES:
        last = _last_sealed(conn, table)
        ids = chain.ids_after(conn, table, last)
        foreign = 0 if expected is None else max(0, len(ids) - expected.get(table, 0))
        links += _range_links(conn, table, ids[:foreign], ORIGIN_OUTSIDE)
        links += _range_links(conn, table, ids[foreign:], origin if expected is not None else of_table(table))
    for table, named in versions.items():
        spec = VERSIONED[table]
        table_origin = of_table(table)
        candidates = chain.row_keys(conn, table, spec.key, spec.order) if named is None else dict.fromkeys(named)
        for row_key in candidates:
            found = _versioned_row(conn, table, row_key)
            if found is None:
                continue
            content = hashlib.sha256(_canonical(found).encode()).hexdigest()
            if chain.latest_content(conn, table, row_key) != content:
                owner = None if spec.owner is None else found[spec.owner]  # sealed columns hold the owner
                links.append(_Link(table, row_key, owner, content, table_origin))
    return links


def seal(conn: sqlite3.Connection, keys: Keys, *, origin: str = ORIGIN_WRITE,
         versions: Mapping[str, Iterable[str] | None] | None = None,
         expected: Mapping[str, int] | None = None) -> int:
    """Append links for every row not yet sealed; call inside the writing transaction. Returns the count.

    ``versions`` names, per versioned table, the rows this transaction wrote (``None`` for a table: compare
    every row, as at start-up; a table not named: none); ``expected`` how many rows it added per table (more
    unsealed rows than that were added from outside).
    """
    links = _unsealed(conn, versions or {}, origin, expected)
    if not links:
        return 0
    ordered = chain.has_account_order(conn)  # asked once: every write transaction seals
    last = chain.head(conn, ordered)
    seq, previous = (0, "") if last is None else (last.seq, last.mac)
    accounts, account_mac = (0, "") if last is None else (last.account_count, last.account_mac)
    at = time.time()
    sealed = []
    for link in links:
        seq += 1
        account_seq = None
        if ordered and link.table in ACCOUNT_TABLES:
            accounts += 1
            account_seq = accounts
        mac = link_mac(keys, seq, link.table, link.row_key, link.session_id, link.origin, at, link.content,
                       previous, account_seq)
        sealed.append(chain.Link(seq, link.table, link.row_key, link.session_id, link.origin, at, link.content, mac,
                                 account_seq))
        if account_seq is not None:
            account_mac = mac
        previous = mac
    new_head = chain.Head(seq, previous, head_mac(keys, seq, previous, accounts, account_mac), accounts, account_mac)
    chain.append(conn, sealed, new_head, ordered)
    return len(links)


def _account_links(conn: sqlite3.Connection) -> list[chain.Link]:
    """The links of accounts and approvals in their own order (none before the upgrade that added it)."""
    return chain.account_links(conn) if chain.has_account_order(conn) else []


def _account_order_problem(found: list[chain.Link], head: chain.Head) -> str | None:
    """What is wrong with the order of the accounts' links ``found`` against the head (None: they run 1 … its
    count and the last is the one it names)."""
    if [link.account_seq for link in found] != list(range(1, head.account_count + 1)):
        return (f"the head counts {head.account_count}, the chain holds {len(found)} (a link of an account or an "
                "approval was removed or moved to another row)")
    if found and found[-1].mac != head.account_mac:
        return "the last one is not the one the head names"
    return None


def has_sealed_accounts(conn: sqlite3.Connection) -> bool:
    """Whether an account was ever sealed in the chain (its row may since have been removed by hand)."""
    if "chain" not in chain.names(conn, "table"):
        return False
    return next(chain.row_keys_newest_first(conn, "users"), None) is not None


def why_untrusted(conn: sqlite3.Connection, keys: Keys, table: str, row_key: str) -> str | None:
    """Why one row of an account table is not the version this program last sealed (None: it is).

    The check made before a row grants something (an account's role at sign-in, an approved profile):
    the chain's head (its keyed hash, and as many links as it says), every link of accounts and approvals
    (their own order without a gap up to where the head says they end, and each one's keyed hash), and the
    row against the newest of its links. So an earlier version put back (with the keyed hash it had then), a
    revocation undone, or the link of the newest version removed, altered or moved to another row is refused.
    Only :func:`verify` walks every link; an earlier state of the whole chain put back is a database put back.
    """
    head = chain.head(conn)
    if head is None or not hmac.compare_digest(
            head_mac(keys, head.seq, head.mac, head.account_count, head.account_mac), head.head_mac):
        return "the hash chain's head is missing or altered"
    if head.seq != chain.count(conn):
        return "links were removed from the hash chain"
    account_links = _account_links(conn)
    broken = _account_order_problem(account_links, head)
    if broken:
        return f"the hash chain's links of accounts and approvals are broken: {broken}"
    newest: chain.Link | None = None
    for link in account_links:
        previous = "" if link.seq == 1 else chain.mac_at(conn, link.seq - 1)
        if previous is None or not hmac.compare_digest(
                link_mac(keys, link.seq, link.table, link.row_key, link.session_id, link.origin, link.at,
                         link.content, previous, link.account_seq), link.mac):
            return f"its hash-chain link {link.seq} is altered or forged"
        if link.table == table and link.row_key == row_key:
            newest = link
    if newest is None:
        return "it is not in the hash chain (added outside this program)"
    found = _versioned_row(conn, table, row_key)
    if found is None or hashlib.sha256(_canonical(found).encode()).hexdigest() != newest.content:
        return "it is not the version last written (changed outside this program)"
    if newest.origin == ORIGIN_OUTSIDE:
        return "it was written outside this program"
    return None


def sealed_here(conn: sqlite3.Connection, keys: Keys, table: str, row_key: str) -> bool:
    """Whether one row is as this program wrote and sealed it: its latest link was written by the program (not
    found unsealed), its keyed hash matches (with the link before it) and so does the row's content."""
    link = chain.latest_link(conn, table, row_key)
    if link is None or link.origin != ORIGIN_WRITE:
        return False
    previous = "" if link.seq == 1 else chain.mac_at(conn, link.seq - 1)
    if previous is None or not hmac.compare_digest(
            link_mac(keys, link.seq, link.table, link.row_key, link.session_id, link.origin, link.at, link.content,
                     previous), link.mac):
        return False
    return row_content(conn, table, row_key) == link.content


# -- a database put back to an older copy of itself ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreFound:
    """A database found older than it had been (its ``database_rolled_back`` audit entry), and who accepted it
    as a legitimate restore, if anyone did."""

    entry_id: int
    found_at: float
    #: The finding as it was recorded, and what the note beside the key file said is missing (links, when).
    found: str
    missing: str
    #: Links of accounts and approvals this computer had seen (None: not known, an older note or entry).
    account_links_seen: int | None
    accepted_by: str | None = None
    accepted_at: float | None = None

    @property
    def accepted(self) -> bool:
        """True once an admin accepted it (or the first run did, for a database that never had accounts)."""
        return self.accepted_at is not None

    def text(self) -> str:
        """``found at its opening on …: …``, with who accepted it."""
        line = f"found at its opening on {_when(self.found_at)}: {self.found}"
        if self.accepted_at is not None:
            line += f"; accepted as a restore by {self.accepted_by or 'nobody signed in'} on {_when(self.accepted_at)}"
        return line


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def found_restores(conn: sqlite3.Connection, keys: Keys) -> tuple[RestoreFound, ...]:
    """Every time the database was found older than it had been, oldest first, with its acceptance.

    An acceptance counts only when it is sealed as this program wrote it: the first run may be offered again on
    its strength, so an entry added by hand must not stand in for an admin's.
    """
    accepted: dict[int, tuple[float, str | None]] = {}
    for entry_id, at, user, ids in restores.acceptances(conn):
        if sealed_here(conn, keys, "audit", str(entry_id)):
            for accepted_id in ids:
                accepted.setdefault(accepted_id, (at, user))
    found = []
    for entry_id, at, detail in restores.rolled_back_entries(conn):
        try:
            raw = json.loads(detail)
        except ValueError:
            raw = {}
        raw = raw if isinstance(raw, dict) else {}
        text = str(raw.get("found", "the database was found older than it had been"))
        seen = raw.get("account_links_seen")
        when, who = accepted.get(entry_id, (None, None))
        found.append(RestoreFound(entry_id, at, text, str(raw.get("missing", text)),
                                  seen if isinstance(seen, int) else None, who, when))
    return tuple(found)


# -- verifying ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing verification found wrong (``session_id`` when it concerns one session)."""

    where: str
    what: str
    session_id: str | None = None

    def text(self) -> str:
        """e.g. ``audit row 12: changed after it was written``."""
        return f"{self.where}: {self.what}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :func:`verify` checked and found."""

    #: SQLite's check of the whole file (None: not run, a check of what one session or the audit log holds).
    integrity_check: str | None
    links: int
    rows_checked: int
    upgraded_rows: int
    findings: tuple[Finding, ...]
    #: Rows sealed by ``recover`` as copied out of a damaged file.
    recovered_rows: int = 0
    #: Every time the database was found older than it had been (accepted as a restore or not).
    restores: tuple[RestoreFound, ...] = ()
    #: The schema of the database: before :data:`CHAIN_SCHEMA` it has no chain; before a table's
    #: :data:`JOINED_AT` that table's rows are not checked.
    schema: int = 0

    @property
    def restores_waiting(self) -> tuple[RestoreFound, ...]:
        """The times it was found older that nobody accepted as a restore: records are missing."""
        return tuple(found for found in self.restores if not found.accepted)

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.findings and self.integrity_check in ("ok", None) and not self.restores_waiting

    @property
    def first_broken(self) -> Finding | None:
        """The first finding (in chain order), or None."""
        return self.findings[0] if self.findings else None

    def unchecked_tables(self) -> tuple[str, ...]:
        """The tables whose rows the database's schema did not yet seal (so they were not checked)."""
        return tuple(table for table, joined in JOINED_AT.items() if self.schema and self.schema < joined)

    def session_verified(self, session_id: str) -> bool:
        """True when nothing wrong concerns this session, the chain itself is whole and no records are missing."""
        if self.integrity_check not in ("ok", None) or self.restores_waiting:
            return False
        return not any(f.session_id in (None, session_id) for f in self.findings)

    def session_text(self, session_id: str) -> str:
        """One line for a review window or an export: verified, or the first problem (as ``verify`` says it)."""
        waiting = self.restores_waiting
        if waiting:
            return (f"NOT VERIFIED: records are missing: the database was put back to an older copy of itself "
                    f"(found {_when(waiting[0].found_at)}; missing: {waiting[0].missing}); an admin accepts a "
                    f"legitimate restore with `{ACCEPT_RESTORE}`")
        if self.session_verified(session_id):
            accepted = [found for found in self.restores if found.accepted]
            restored = (f"; restored from a backup, accepted by {accepted[-1].accepted_by or 'nobody signed in'} "
                        f"on {_when(accepted[-1].accepted_at or 0.0)}: the record lacks {accepted[-1].missing}"
                        if accepted else "")
            return f"verified: record intact ({self.links} chain links checked{restored})"
        relevant = [f for f in self.findings if f.session_id in (None, session_id)]
        first = relevant[0].text() if relevant else f"database integrity check: {self.integrity_check}"
        return f"NOT VERIFIED: {first}"


def tables_of_the_chain(conn: sqlite3.Connection) -> tuple[str, ...]:
    """The tables only a database with the chain has that a database whose version predates the chain holds (none:
    its version is one with the chain, or it holds none of them)."""
    if chain.schema_version(conn) >= CHAIN_SCHEMA:
        return ()
    present = chain.names(conn, "table")
    return tuple(table for table in CHAINED_SCHEMA_TABLES if table in present)


def set_back_text(version: int, tables: Iterable[str]) -> str:
    """What is wrong with a database of schema ``version`` from before the chain that holds ``tables`` of the
    chain's schemas."""
    return (f"it says schema {version}, from before the record chain, but holds {', '.join(tables)}, which only a "
            "database with the chain has: its version was set back outside this program")


def verify(conn: sqlite3.Connection, keys: Keys | None, *, session_id: str | None = None,
           audit_log: bool = False) -> VerifyReport:
    """Check the database's own integrity and every chain; name what is broken, first link first.

    With ``session_id`` the whole chain is still walked (its keyed hashes), but rows are compared
    only for that session (and rows of no session): what a review window or an export needs. With ``audit_log``
    the audit log's rows are compared (all of them, with the session's when one is given): what reading the audit
    log shows. Either leaves out SQLite's check of the whole file (``integrity_check`` None), which reads every page
    of every session (seconds on a chair's year): the rows compared are read, and one SQLite cannot read fails.

    Everything is read from one snapshot of the file: read statement by statement, the links and the chain's head
    came from different moments while another session was recording, and a sound record was reported as "links
    were removed from its end" (in the export's own verification line too).
    """
    with chain.one_snapshot(conn):
        return _verify(conn, keys, session_id, audit_log)


def _in_scope(table: str, owner: str | None, session_id: str | None, audit_log: bool) -> bool:
    """Whether a link's row is compared in a check of one session and/or of the audit log."""
    if audit_log and table == "audit":
        return True
    return session_id is not None and (owner is None or owner == session_id)


def _verify(conn: sqlite3.Connection, keys: Keys | None, session_id: str | None,
            audit_log: bool = False) -> VerifyReport:
    findings: list[Finding] = []
    whole = session_id is None and not audit_log
    check = chain.integrity_check(conn, quick=False) if whole else None
    schema = chain.schema_version(conn)
    set_back = tables_of_the_chain(conn)
    if set_back:
        # Checked as the chain's own columns say it was sealed: the version it claims would leave tables unasked.
        findings.append(Finding("database", set_back_text(schema, set_back)))
        schema = max(JOINED_AT.values()) if chain.has_account_order(conn) else CHAIN_SCHEMA
    if "chain" not in chain.names(conn, "table"):
        if not findings:
            findings.append(Finding("database", f"predates the record chain (schema {schema}): upgrade it to verify"
                                    if schema < CHAIN_SCHEMA else f"its record chain was removed (schema {schema} "
                                    "has one)"))
        return VerifyReport(check, 0, 0, 0, tuple(findings), schema=schema)
    if keys is None:
        return VerifyReport(check, 0, 0, 0, (*findings, Finding("key file", "missing: the chain cannot be checked")))
    stored = chain.key_fingerprint(conn)
    if stored != keys.fingerprint:
        return VerifyReport(check, 0, 0, 0, (*findings, Finding(
            "key file", f"{keys.path} is not the key this database was sealed with (database: "
            f"{'none' if stored is None else stored}, key file: {keys.fingerprint}); restore the right one"),))
    triggers = chain.triggers(conn)
    findings += [Finding(f"trigger {name}", "missing (the append-only guard was removed)")
                 for name in EXPECTED_TRIGGERS if name not in triggers]
    findings += _foreign_triggers(triggers)

    # Only a check of one session keeps links (its own and those of no session): a whole file's rows are
    # compared afterwards, table by table, against the latest link of each row read from the chain itself (a
    # year holds millions of links; keeping them all needed gigabytes).
    latest: dict[tuple[str, str], tuple[str, str | None]] | None = None if whole else {}
    previous = ""
    links = 0
    upgraded = 0
    recovered = 0
    chain_broken = False
    for seq, table, row_key, owner, origin, at, content, mac, account_seq in chain.link_values(conn):
        links += 1
        if not chain_broken:
            if seq != links:
                findings.append(Finding(f"chain link {links}", f"removed (the chain jumps to link {seq})"))
                chain_broken = True
            elif link_mac(keys, seq, table, row_key, owner, origin, at, content, previous, account_seq) != mac:
                # The session a link names is part of what its keyed hash covers: once that does not match, the
                # link may name any session, so the finding concerns every one.
                findings.append(Finding(f"chain link {seq} ({table} {row_key})",
                                        "altered, forged or out of order (its keyed hash does not match)"))
                chain_broken = True
        previous = mac
        if origin == ORIGIN_OUTSIDE:
            findings.append(Finding(f"{table} {row_key}", "written outside this program (found unsealed at "
                                    f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(at))})", owner))
        elif origin == ORIGIN_UPGRADE:
            upgraded += 1
        elif origin == ORIGIN_RECOVERED:
            recovered += 1
        if latest is None:
            continue
        if _in_scope(table, owner, session_id, audit_log):
            latest[(table, row_key)] = (content, owner)
        else:
            # Another session's row: only that it is not ours is kept. A row of ours whose latest link names
            # another session is then in no link of ours: reported as not in the chain.
            latest.pop((table, row_key), None)
    head = chain.head(conn)
    if links and head is None:
        findings.append(Finding("chain head", "missing"))
    elif head is not None:
        if head_mac(keys, head.seq, head.mac, head.account_count, head.account_mac) != head.head_mac:
            findings.append(Finding("chain head", "altered (its keyed hash does not match)"))
        elif head.seq != links or head.mac != previous:
            findings.append(Finding("chain head", f"says {head.seq} links, the chain has {links}: "
                                    "links were removed from its end"))
        else:
            broken = _account_order_problem(_account_links(conn), head)
            if broken:
                findings.append(Finding("accounts' links", broken))

    compared = (((table, row_key, content, owner) for (table, row_key), (content, owner) in latest.items())
                if latest is not None else chain.latest_links(conn))
    rows_checked = 0
    for table, row_key, content, owner in compared:
        rows_checked += 1
        now = row_content(conn, table, row_key)
        if now is None:
            findings.append(Finding(f"{table} {row_key}", "deleted after it was written", owner))
        elif now != content:
            findings.append(Finding(f"{table} {row_key}", "changed after it was written", owner))
    if session_id is not None or whole:
        findings += _unchained_rows(conn, latest, session_id, schema)
    if audit_log and latest is not None:
        findings += [found for found in _unchained_audit_rows(conn, latest) if found not in findings]
    return VerifyReport(check, links, rows_checked, upgraded, tuple(findings), recovered,
                        found_restores(conn, keys), schema)


def _foreign_triggers(found: Mapping[str, str]) -> list[Finding]:
    """Triggers this program did not create, or changed since: one can rewrite rows as they are written, before
    they are sealed, so the rewritten rows would verify."""
    ours = {**chain.APPEND_ONLY_TRIGGERS, **outbox.trigger_statements()}
    return [
        Finding(f"trigger {name}", "added outside this program (it can change rows as they are written)"
                if name not in ours else "changed outside this program (it can change rows as they are written)")
        for name, statement in sorted(found.items())
        if ours.get(name) != statement
    ]


def _unchained_rows(conn: sqlite3.Connection, latest: Mapping[tuple[str, str], object] | None,
                    only: str | None = None, schema: int | None = None) -> list[Finding]:
    """Rows no link holds: with ``latest`` (one session's check), rows of that session and of no session
    that are not among its keys; without, every row the chain has no link over (asked of the database). A table
    that joined the chain after the database's ``schema`` is not asked: its rows were never sealed."""
    findings: list[Finding] = []
    named: list[tuple[str, str, str | None]] = [(table, "id", "session_id") for table in ROW_TABLES]
    named += [(table, spec.key, spec.owner) for table, spec in VERSIONED.items()
              if schema is None or schema >= JOINED_AT[table]]
    for table, key, owner in named:
        if latest is None:
            found: Iterable[tuple[Any, str | None]] = chain.rows_without_links(conn, table, key=key, owner=owner)
        else:
            found = ((row_id, session_id) for row_id, session_id in chain.owners(conn, table, only, key=key,
                                                                                  owner=owner)
                     if (table, str(row_id)) not in latest)
        findings += [Finding(f"{table} {row_id}", "not in the chain (added outside this program)", session_id)
                     for row_id, session_id in found]
    for table in RANGE_TABLES:
        if latest is None:
            covered: Iterable[tuple[int, int]] = chain.sealed_ranges(conn, table)
        else:
            covered = sorted((int(lo), int(hi)) for lo, _, hi in
                             (key.partition("-") for tbl, key in latest if tbl == table))
        # A row is unchained when no link's range holds its id: exactly the rows in the gaps between
        # the ranges (read by id, not row by row: a day is ~260,000 readings).
        for row_id, session_id in chain.rows_in_id_gaps(conn, table, _gaps(covered), only):
            findings.append(Finding(f"{table} {row_id}", "not in the chain (added outside this program)",
                                    session_id))
    return findings


def _unchained_audit_rows(conn: sqlite3.Connection, latest: Mapping[tuple[str, str], object]) -> list[Finding]:
    """Audit entries no link holds (added outside this program), of every session."""
    return [Finding(f"audit {row_id}", "not in the chain (added outside this program)", session_id)
            for row_id, session_id in chain.owners(conn, "audit") if ("audit", str(row_id)) not in latest]


def _gaps(ranges: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The ids (as inclusive ranges, ascending) that none of ``ranges`` (sorted by their low end) holds."""
    next_free = chain.SMALLEST_ID
    for lo, hi in ranges:
        if lo > next_free:
            yield next_free, lo - 1
        next_free = max(next_free, hi + 1)
    if next_free <= chain.LARGEST_ID:
        yield next_free, chain.LARGEST_ID
