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

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
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
class Mark:
    """A point in a chair database's outbox: its last outbox number and the batch that carried it to the
    server (None from a server or a chair that kept no batch id)."""

    seq: int
    batch: str | None


@dataclass(frozen=True, slots=True)
class LocalProgress:
    """What the chair database knows of its copy on the server (see :mod:`monitor.replication.progress`)."""

    #: The last batch the server confirmed (None: nothing yet, or a file from before batch ids).
    confirmed: Mark | None
    #: The batch being sent, or last sent (the server may have committed it before the link broke).
    sending: Mark | None
    #: The highest outbox number this file ever gave out.
    highest_seq: int


@dataclass(frozen=True, slots=True)
class EarlierOrigin:
    """An origin id this file sent as before it took a newer one, and, of each table keyed by a local number, the
    highest row number the server had confirmed under it: rows up to there are keyed by that origin on the
    server, and go again under it whenever they are sent again."""

    origin: str
    highest: dict[str, int]


@dataclass(frozen=True, slots=True)
class OutboxState:
    """How far behind the server this chair is."""

    pending: int
    oldest_queued_at: float | None


@contextlib.contextmanager
def _writing(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction holding the write lock from its start (the recorder writes the same file)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


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
    with _writing(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS replication_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        origin = _state(conn, "origin")
        if origin is None:
            origin = uuid.uuid4().hex
            _set_state(conn, "origin", origin)
        if not installed(conn):
            conn.execute(
                "CREATE TABLE replication_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "tbl TEXT NOT NULL, row_key TEXT NOT NULL, queued_at REAL NOT NULL)"
            )
            _queue_every_row(conn)
        for statement in trigger_statements().values():
            conn.execute(statement.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS", 1))
    return origin


def trigger_statements() -> dict[str, str]:
    """Each outbox trigger's name and its statement, as SQLite keeps it in the schema."""
    return {
        f"replicate_{table}_{event.lower()}": (
            f"CREATE TRIGGER replicate_{table}_{event.lower()} AFTER {event} ON {table} "
            f"BEGIN INSERT INTO replication_outbox (tbl, row_key, queued_at) "
            f"VALUES ('{table}', CAST(NEW.id AS TEXT), {_NOW}); END"
        )
        for table in TABLES
        for event in ("INSERT", "UPDATE")
    }


def _queue_every_row(conn: sqlite3.Connection) -> int:
    """Put every replicated row on the outbox (inside the caller's transaction); returns how many."""
    queued = 0
    for table in TABLES:
        queued += conn.execute(
            f"INSERT INTO replication_outbox (tbl, row_key, queued_at) "
            f"SELECT '{table}', CAST(id AS TEXT), {_NOW} FROM {table} ORDER BY rowid"
        ).rowcount
    return queued


def _state(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM replication_state WHERE key = ?", [key]).fetchone()
    return None if row is None else str(row[0])


def _set_state(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    if value is None:
        conn.execute("DELETE FROM replication_state WHERE key = ?", [key])
    else:
        conn.execute("INSERT OR REPLACE INTO replication_state (key, value) VALUES (?, ?)", [key, value])


def _mark(text: str | None) -> Mark | None:
    """A mark as kept in ``replication_state`` (``seq:batch``)."""
    if not text:
        return None
    seq, _, batch = text.partition(":")
    return Mark(int(seq), batch or None)


def _mark_text(mark: Mark | None) -> str | None:
    return None if mark is None else f"{mark.seq}:{mark.batch or ''}"


def progress(conn: sqlite3.Connection) -> LocalProgress:
    """What this file knows of its copy on the server."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'replication_outbox'").fetchone()
    return LocalProgress(
        confirmed=_mark(_state(conn, "confirmed")),
        sending=_mark(_state(conn, "sending")),
        highest_seq=0 if row is None else int(row[0]),
    )


def new_batch_id() -> str:
    """A random id for the next batch."""
    return uuid.uuid4().hex


def begin_batch(conn: sqlite3.Connection, mark: Mark) -> None:
    """Note, before the server's transaction, the batch about to be sent (it may commit there and the link
    break before the server says so)."""
    with _writing(conn):
        _set_state(conn, "sending", _mark_text(mark))


def origins(conn: sqlite3.Connection) -> list[str]:
    """This file's origin id, then the ones it sent as before (newest first): its rows on the server are
    under these."""
    current = _state(conn, "origin")
    before = [o for o in (_state(conn, "origins_before") or "").split(",") if o]
    return ([current] if current else []) + before


def take_new_origin(conn: sqlite3.Connection) -> str:
    """From now on this file sends as a new origin id (its earlier one stays listed, with how far the server had
    its rows under it, :class:`EarlierOrigin`); what waits on the outbox goes under the new one. Returns the new
    id."""
    with _writing(conn):
        new = uuid.uuid4().hex
        old = _state(conn, "origin")
        if old:
            _set_state(conn, "earlier_origins", _earlier_text([*earlier_origins(conn), _reach_of(conn, old)]))
        _set_state(conn, "origins_before", ",".join(origins(conn)))
        _set_state(conn, "origin", new)
        _set_state(conn, "confirmed", None)
        _set_state(conn, "sending", None)
    return new


def _reach_of(conn: sqlite3.Connection, origin: str) -> EarlierOrigin:
    """How far the server has this file's rows under ``origin``, the origin it is leaving: of each table keyed by a
    local number, the highest row not waiting on the outbox (rows are numbered and confirmed in the order they were
    written, so every row below it reached the server; one waiting again after a change was also sent first).
    Never below an earlier origin's reach: a row is keyed by the first origin it reached the server under."""
    before = earlier_origins(conn)
    highest: dict[str, int] = {}
    for table, key in TABLES.items():
        if key != "local":
            continue
        row = conn.execute(
            f"SELECT id FROM {table} WHERE CAST(id AS TEXT) NOT IN "
            f"(SELECT row_key FROM replication_outbox WHERE tbl = ?) ORDER BY id DESC LIMIT 1", [table]
        ).fetchone()
        below = max((e.highest.get(table, 0) for e in before), default=0)
        highest[table] = max(below, 0 if row is None else int(row[0]))
    return EarlierOrigin(origin, highest)


def earlier_origins(conn: sqlite3.Connection) -> list[EarlierOrigin]:
    """The origin ids this file sent as before, oldest first, with how far the server had its rows under each
    (empty for a file that took its new origin before this was kept: its rows then all go under its current one)."""
    text = _state(conn, "earlier_origins")
    if not text:
        return []
    return [EarlierOrigin(str(each["origin"]), {str(t): int(n) for t, n in each["highest"].items()})
            for each in json.loads(text)]


def _earlier_text(earlier: Sequence[EarlierOrigin]) -> str | None:
    if not earlier:
        return None
    return json.dumps([{"origin": e.origin, "highest": e.highest} for e in earlier])


def origin_of(earlier: Sequence[EarlierOrigin], current: str, table: str, local_id: int) -> str:
    """The origin a row of ``table`` (keyed by the local number ``local_id``) is keyed by on the server: the first
    origin whose reach covers it, otherwise the current one (:func:`earlier_origins`)."""
    for each in earlier:
        if local_id <= each.highest.get(table, 0):
            return each.origin
    return current


def queue_everything_again(conn: sqlite3.Connection, server: Mark | None) -> int:
    """Queue every row again (the server lost some), taking the server's ``server`` as the confirmed point;
    returns how many rows were queued. Each goes under the origin it first reached the server as
    (:func:`origin_of`), so a row the server kept is not added a second time."""
    with _writing(conn):
        queued = _queue_every_row(conn)
        _set_state(conn, "confirmed", _mark_text(server))
        _set_state(conn, "sending", None)
    return queued


def carry_identity(conn: sqlite3.Connection, origin_ids: Sequence[str], local: LocalProgress,
                   earlier: Sequence[EarlierOrigin] = ()) -> int:
    """Make a new file (rebuilt from a damaged one) send as that file did: the same origin ids (with how far the
    server had its rows under the earlier ones), its marks, and outbox numbers after the highest it gave out; every
    row is queued again. Returns how many."""
    install(conn)  # the outbox and triggers; the origin is replaced below
    with _writing(conn):
        conn.execute("DELETE FROM replication_outbox")
        # Outbox numbers go on after the damaged file's: the server's progress refers to those.
        if not conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'replication_outbox'",
                            [local.highest_seq]).rowcount:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('replication_outbox', ?)",
                         [local.highest_seq])
        _set_state(conn, "origin", origin_ids[0])
        _set_state(conn, "origins_before", ",".join(origin_ids[1:]) or None)
        _set_state(conn, "earlier_origins", _earlier_text(earlier))
        _set_state(conn, "confirmed", _mark_text(local.confirmed))
        _set_state(conn, "sending", _mark_text(local.sending))
        queued = _queue_every_row(conn)
    return queued


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


def acknowledge(conn: sqlite3.Connection, confirmed: Mark) -> None:
    """Forget entries the server has committed up to ``confirmed`` and remember it as the confirmed point
    (called after the server's transaction succeeded)."""
    with _writing(conn):
        conn.execute("DELETE FROM replication_outbox WHERE seq <= ?", [confirmed.seq])
        _set_state(conn, "confirmed", _mark_text(confirmed))


def carry_progress(source: sqlite3.Connection, copy: sqlite3.Connection) -> bool:
    """Give ``copy``, a copy of the database ``source`` taken earlier (a file written back), what ``source``
    learnt from the server since: entries confirmed there are forgotten here too, and the batch under way is
    the copy's. Nothing is carried when the two no longer send as the same origin; False then."""
    if _state(source, "origin") != _state(copy, "origin"):
        return False
    mine = progress(source)
    with _writing(copy):
        if mine.confirmed is not None:
            copy.execute("DELETE FROM replication_outbox WHERE seq <= ?", [mine.confirmed.seq])
        _set_state(copy, "confirmed", _mark_text(mine.confirmed))
        _set_state(copy, "sending", _mark_text(mine.sending))
    return True


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
