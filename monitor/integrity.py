"""A record that shows tampering: keyed hash chains over the audit log, events, alarms, readings and waveforms.

Every row the program writes to those tables is *sealed* in the same transaction: a link is
appended to the ``chain`` table carrying a SHA-256 of the row's content and an HMAC-SHA256,
under a key kept outside the database (:mod:`monitor.keys`), of that content hash and of the
previous link's HMAC. Audit entries and events get one link per row, an alarm one link per
version (its state changes), readings and waveform blocks one link per written range.
``chain_head`` holds the last link under its own HMAC so that cutting links off the end shows.

:func:`verify` walks the chain and compares every link with the row it names. Without the key
nobody can write a link that verifies, so a changed, deleted or inserted row, a removed link or
a cut-off chain is found and named. What this does not catch (a whole database swapped for an
older copy of itself, an attacker who holds the key) is in the README's threat model.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from monitor.keys import Keys
from monitor.store import chain_reads

#: Tables sealed one link per row (append-only, integer ids).
ROW_TABLES: Final = ("audit", "events")
#: Tables sealed one link per written id range (append-only, integer ids, many rows).
RANGE_TABLES: Final = ("readings", "waveforms")
#: Tables whose rows change (an alarm's state): one link per version.
VERSIONED_TABLES: Final = ("alarms",)

#: How a link came to be: written by the program, found at the upgrade that introduced sealing,
#: or found unsealed later (rows written by something other than this program).
ORIGIN_WRITE: Final = "write"
ORIGIN_UPGRADE: Final = "upgrade"
ORIGIN_OUTSIDE: Final = "outside"

#: Triggers whose absence is itself a finding.
EXPECTED_TRIGGERS: Final = ("audit_no_update", "audit_no_delete")


def create_tables(db: Any) -> None:
    """The chain, its head and the key fingerprint (part of a schema migration)."""
    db.execute(
        "CREATE TABLE chain (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, row_key TEXT NOT NULL, "
        "session_id TEXT, origin TEXT NOT NULL, at REAL NOT NULL, content TEXT NOT NULL, mac TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX chain_row ON chain (tbl, row_key)")
    db.execute("CREATE INDEX chain_tbl_seq ON chain (tbl, seq)")
    db.execute(
        "CREATE TABLE chain_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, "
        "mac TEXT NOT NULL, head_mac TEXT NOT NULL)"
    )
    db.execute("CREATE TABLE security (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


# -- content --------------------------------------------------------------------------------------


def _canonical(row: dict[str, Any]) -> str:
    # repr of (column, value) pairs in column order: exact for text, integers, floats (shortest
    # round-trip form), bytes and NULL, and done in C (a 90-minute session is ~16,000 rows).
    return repr(tuple(row.items()))


def _rows(conn: sqlite3.Connection, sql: str, args: Iterable[Any]) -> Iterator[dict[str, Any]]:
    cursor = conn.execute(sql, list(args))
    names = [d[0] for d in cursor.description]
    for values in cursor:
        yield dict(zip(names, values, strict=True))


def row_content(conn: sqlite3.Connection, table: str, row_key: str) -> str | None:
    """SHA-256 of one row (or of an id range ``lo-hi`` of a range table); None when it is gone."""
    if table in RANGE_TABLES:
        lo, _, hi = row_key.partition("-")
        cursor = conn.execute(f"SELECT * FROM {table} WHERE id BETWEEN ? AND ? ORDER BY id", [int(lo), int(hi)])
        # Each row hashes as repr(tuple(zip(names, values))) + "\n"; a template with the names filled
        # in gives the same text four times faster (a 24-hour session checks ~260,000 reading rows),
        # and the range's rows are hashed as one text (a range is a few hundred rows at most).
        template = "(" + ", ".join(f"({name!r}, %r)" for name in (d[0] for d in cursor.description))
        template += ",)\n" if len(cursor.description) == 1 else ")\n"
        rows = cursor.fetchall()
        if len(rows) != int(hi) - int(lo) + 1:
            return None
        return hashlib.sha256("".join(map(template.__mod__, rows)).encode()).hexdigest()
    found = list(_rows(conn, f"SELECT * FROM {table} WHERE id = ?", (_key_value(table, row_key),)))
    return hashlib.sha256(_canonical(found[0]).encode()).hexdigest() if found else None


def _key_value(table: str, row_key: str) -> Any:
    return row_key if table in VERSIONED_TABLES else int(row_key)


def link_mac(keys: Keys, seq: int, table: str, row_key: str, session_id: str | None, origin: str, at: float,
             content: str, previous: str) -> str:
    """The keyed hash of one link: its place, the row it names, that row's content and the link before."""
    message = "\x1f".join(
        (str(seq), table, row_key, session_id or "", origin, repr(at), content, previous)
    ).encode()
    return hmac.new(keys.integrity, message, hashlib.sha256).hexdigest()


def head_mac(keys: Keys, seq: int, mac: str) -> str:
    """The keyed hash of the chain's end (so links cut off the end are noticed)."""
    return hmac.new(keys.integrity, f"head\x1f{seq}\x1f{mac}".encode(), hashlib.sha256).hexdigest()


# -- sealing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Link:
    table: str
    row_key: str
    session_id: str | None
    content: str
    origin: str


def _head(conn: sqlite3.Connection) -> tuple[int, str]:
    row = conn.execute("SELECT seq, mac FROM chain_head WHERE id = 1").fetchone()
    return (0, "") if row is None else (int(row[0]), str(row[1]))


def _last_sealed(conn: sqlite3.Connection, table: str) -> int:
    row = conn.execute("SELECT row_key FROM chain WHERE tbl = ? ORDER BY seq DESC LIMIT 1", [table]).fetchone()
    if row is None:
        return 0
    return int(str(row[0]).rpartition("-")[2])


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


def _unsealed(conn: sqlite3.Connection, alarm_ids: Iterable[str] | None, origin: str,
              expected: Mapping[str, int] | None) -> list[_Link]:
    """Links for rows not yet sealed. With ``expected`` (rows this transaction added, per table) any
    further unsealed rows (the older ids) were written by something else and are marked so."""

    def origin_of(table: str, position: int, count: int) -> str:
        if expected is None:
            return origin
        foreign = count - expected.get(table, 0)
        return ORIGIN_OUTSIDE if position < foreign else origin

    links: list[_Link] = []
    for table in ROW_TABLES:
        last = _last_sealed(conn, table)
        rows = list(_rows(conn, f"SELECT * FROM {table} WHERE id > ? ORDER BY id", (last,)))
        for position, row in enumerate(rows):
            content = hashlib.sha256(_canonical(row).encode()).hexdigest()
            links.append(_Link(table, str(row["id"]), row.get("session_id"), content,
                               origin_of(table, position, len(rows))))
    for table in RANGE_TABLES:
        last = _last_sealed(conn, table)
        ids = [(int(r[0]), r[1]) for r in conn.execute(
            f"SELECT id, session_id FROM {table} WHERE id > ? ORDER BY id", [last])]
        foreign = 0 if expected is None else max(0, len(ids) - expected.get(table, 0))
        links += _range_links(conn, table, ids[:foreign], ORIGIN_OUTSIDE)
        links += _range_links(conn, table, ids[foreign:], origin)
    if alarm_ids is None:
        candidates = [str(r[0]) for r in conn.execute("SELECT id FROM alarms ORDER BY started_at, id")]
    else:
        candidates = list(dict.fromkeys(alarm_ids))
    for alarm_id in candidates:
        found = list(_rows(conn, "SELECT * FROM alarms WHERE id = ?", (alarm_id,)))
        if not found:
            continue
        content = hashlib.sha256(_canonical(found[0]).encode()).hexdigest()
        latest = conn.execute(
            "SELECT content FROM chain WHERE tbl = 'alarms' AND row_key = ? ORDER BY seq DESC LIMIT 1", [alarm_id]
        ).fetchone()
        if latest is None or latest[0] != content:
            links.append(_Link("alarms", alarm_id, found[0].get("session_id"), content, origin))
    return links


def seal(conn: sqlite3.Connection, keys: Keys, *, origin: str = ORIGIN_WRITE,
         alarm_ids: Iterable[str] | None = (), expected: Mapping[str, int] | None = None) -> int:
    """Append links for every row not yet sealed; call inside the writing transaction. Returns the count.

    ``alarm_ids`` names the alarms this transaction wrote (``None``: compare every alarm, as at start-up);
    ``expected`` how many rows it added per table (more unsealed rows than that were added from outside).
    """
    links = _unsealed(conn, alarm_ids, origin, expected)
    if not links:
        return 0
    seq, previous = _head(conn)
    at = time.time()
    rows = []
    for link in links:
        seq += 1
        mac = link_mac(keys, seq, link.table, link.row_key, link.session_id, link.origin, at, link.content,
                       previous)
        rows.append((seq, link.table, link.row_key, link.session_id, link.origin, at, link.content, mac))
        previous = mac
    conn.executemany(
        "INSERT INTO chain (seq, tbl, row_key, session_id, origin, at, content, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute(
        "INSERT INTO chain_head (id, seq, mac, head_mac) VALUES (1, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, mac = excluded.mac, head_mac = excluded.head_mac",
        [seq, previous, head_mac(keys, seq, previous)],
    )
    return len(links)


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

    integrity_check: str
    links: int
    rows_checked: int
    upgraded_rows: int
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.findings and self.integrity_check == "ok"

    @property
    def first_broken(self) -> Finding | None:
        """The first finding (in chain order), or None."""
        return self.findings[0] if self.findings else None

    def session_verified(self, session_id: str) -> bool:
        """True when nothing wrong concerns this session and the chain itself is whole."""
        if self.integrity_check != "ok":
            return False
        return not any(f.session_id in (None, session_id) for f in self.findings)

    def session_text(self, session_id: str) -> str:
        """One line for a review window or an export: verified, or the first problem."""
        if self.session_verified(session_id):
            return f"verified: record intact ({self.links} chain links checked)"
        relevant = [f for f in self.findings if f.session_id in (None, session_id)]
        first = relevant[0].text() if relevant else f"database integrity check: {self.integrity_check}"
        return f"NOT VERIFIED: {first}"


def verify(conn: sqlite3.Connection, keys: Keys | None, *, session_id: str | None = None) -> VerifyReport:
    """Check the database's own integrity and every chain; name what is broken, first link first.

    With ``session_id`` the whole chain is still walked (its keyed hashes), but rows are compared
    only for that session (and rows of no session): what a review window or an export needs.
    """
    findings: list[Finding] = []
    check = "; ".join(str(r[0]) for r in conn.execute(
        "PRAGMA quick_check" if session_id is not None else "PRAGMA integrity_check").fetchall())
    tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "chain" not in tables:
        return VerifyReport(check, 0, 0, 0, (Finding("database", "has no hash chain (written by an older version)"),))
    if keys is None:
        return VerifyReport(check, 0, 0, 0, (Finding("key file", "missing: the chain cannot be checked"),))
    stored = conn.execute("SELECT value FROM security WHERE name = 'key_fingerprint'").fetchone()
    if stored is None or stored[0] != keys.fingerprint:
        return VerifyReport(check, 0, 0, 0, (Finding(
            "key file", f"{keys.path} is not the key this database was sealed with "
            f"(database: {stored[0] if stored else 'none'}, key file: {keys.fingerprint}); restore the right one"),))
    triggers = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    findings += [Finding(f"trigger {name}", "missing (the append-only guard was removed)")
                 for name in EXPECTED_TRIGGERS if name not in triggers]

    latest: dict[tuple[str, str], tuple[int, str, str | None]] = {}
    previous = ""
    links = 0
    upgraded = 0
    chain_broken = False
    for expected_seq, (seq, table, row_key, session_id, origin, at, content, mac) in enumerate(conn.execute(
        "SELECT seq, tbl, row_key, session_id, origin, at, content, mac FROM chain ORDER BY seq"
    ), start=1):
        links += 1
        where = f"chain link {seq} ({table} {row_key})"
        if not chain_broken:
            if seq != expected_seq:
                findings.append(Finding(f"chain link {expected_seq}", "removed (the chain jumps to link "
                                        f"{seq})"))
                chain_broken = True
            elif link_mac(keys, seq, table, row_key, session_id, origin, at, content, previous) != mac:
                findings.append(Finding(where, "altered, forged or out of order (its keyed hash does not match)",
                                        session_id))
                chain_broken = True
        previous = mac
        if origin == ORIGIN_OUTSIDE:
            findings.append(Finding(f"{table} {row_key}", "written outside this program (found unsealed at "
                                    f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(at))})", session_id))
        elif origin == ORIGIN_UPGRADE:
            upgraded += 1
        latest[(table, row_key)] = (seq, content, session_id)
    head = conn.execute("SELECT seq, mac, head_mac FROM chain_head WHERE id = 1").fetchone()
    if links and head is None:
        findings.append(Finding("chain head", "missing"))
    elif head is not None:
        if head_mac(keys, int(head[0]), str(head[1])) != head[2]:
            findings.append(Finding("chain head", "altered (its keyed hash does not match)"))
        elif int(head[0]) != links or str(head[1]) != previous:
            findings.append(Finding("chain head", f"says {head[0]} links, the chain has {links}: "
                                    "links were removed from its end"))

    rows_checked = 0
    for (table, row_key), (_seq, content, owner) in latest.items():
        if session_id is not None and owner not in (None, session_id):
            continue
        rows_checked += 1
        now = row_content(conn, table, row_key)
        if now is None:
            findings.append(Finding(f"{table} {row_key}", "deleted after it was written", owner))
        elif now != content:
            findings.append(Finding(f"{table} {row_key}", "changed after it was written", owner))
    findings += _unchained_rows(conn, latest, session_id)
    return VerifyReport(check, links, rows_checked, upgraded, tuple(findings))


def _unchained_rows(conn: sqlite3.Connection, latest: dict[tuple[str, str], Any],
                    only: str | None = None) -> list[Finding]:
    findings: list[Finding] = []
    where = "" if only is None else " WHERE session_id = ? OR session_id IS NULL"
    args = [] if only is None else [only]
    for table in ROW_TABLES + VERSIONED_TABLES:
        for row_id, session_id in conn.execute(f"SELECT id, session_id FROM {table}{where} ORDER BY rowid", args):
            if (table, str(row_id)) not in latest:
                findings.append(Finding(f"{table} {row_id}", "not in the chain (added outside this program)",
                                        session_id))
    for table in RANGE_TABLES:
        covered = sorted((int(lo), int(hi)) for lo, _, hi in
                         (key.partition("-") for tbl, key in latest if tbl == table))
        # A row is unchained when no link's range holds its id: exactly the rows in the gaps between
        # the ranges (read by id, not row by row: a day is ~260,000 readings).
        for row_id, session_id in chain_reads.rows_in_id_gaps(conn, table, _gaps(covered), only):
            findings.append(Finding(f"{table} {row_id}", "not in the chain (added outside this program)",
                                    session_id))
    return findings


def _gaps(ranges: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The ids (as inclusive ranges, ascending) that none of ``ranges`` (sorted) holds."""
    next_free = chain_reads.SMALLEST_ID
    for lo, hi in ranges:
        if lo > next_free:
            yield next_free, lo - 1
        next_free = max(next_free, hi + 1)
    if next_free <= chain_reads.LARGEST_ID:
        yield next_free, chain_reads.LARGEST_ID
