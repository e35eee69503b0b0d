"""The hash chain's tables: creating them, reading rows and links for sealing and checking, appending links.

The chain's logic (what a link's content and keyed hash are, what counts as a finding) is in
:mod:`monitor.integrity`; this module only speaks SQL for it. Plain functions over an open connection:
sealing runs inside a :class:`~monitor.store.Store`'s writing transaction, and a checking process of its
own (:mod:`monitor.background_verify`) has no store, only a read-only connection.

Table names passed in are the chain's own constants (:data:`monitor.integrity.ROW_TABLES` and the like),
never text from outside.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Lowest and highest INTEGER PRIMARY KEY SQLite allows: the ends of the open id gaps.
SMALLEST_ID = -(2**63)
LARGEST_ID = 2**63 - 1


#: The audit log's append-only guards: each trigger's name and its statement, as SQLite keeps it in the schema.
APPEND_ONLY_TRIGGERS: dict[str, str] = {
    name: f"CREATE TRIGGER {name} BEFORE {event} ON audit "
          "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    for name, event in (("audit_no_update", "UPDATE"), ("audit_no_delete", "DELETE"))
}


def create_tables(conn: Any) -> None:
    """The chain, its head and the key fingerprint (part of a schema migration); ``conn`` can execute SQL."""
    conn.execute(
        "CREATE TABLE chain (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, row_key TEXT NOT NULL, "
        "session_id TEXT, origin TEXT NOT NULL, at REAL NOT NULL, content TEXT NOT NULL, mac TEXT NOT NULL)"
    )
    conn.execute("CREATE INDEX chain_row ON chain (tbl, row_key)")
    conn.execute("CREATE INDEX chain_tbl_seq ON chain (tbl, seq)")
    conn.execute(
        "CREATE TABLE chain_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, "
        "mac TEXT NOT NULL, head_mac TEXT NOT NULL)"
    )
    conn.execute("CREATE TABLE security (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that can only read the database at ``path`` (waiting up to 10 s for a writer's lock)."""
    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


# -- the sealed tables' rows ----------------------------------------------------------------------


def _dicts(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    for values in cursor:
        yield dict(zip(names, values, strict=True))


def row(conn: sqlite3.Connection, table: str, row_id: object,
        columns: tuple[str, ...] | None = None, key: str = "id") -> dict[str, Any] | None:
    """One row by its key (``id`` unless named), as column → value in column order (only ``columns``, when
    named); None when there is none."""
    names = "*" if columns is None else ", ".join(columns)
    return next(_dicts(conn.execute(f"SELECT {names} FROM {table} WHERE {key} = ?", [row_id])), None)


def rows_after(conn: sqlite3.Connection, table: str, last_id: int) -> list[dict[str, Any]]:
    """The rows whose id is above ``last_id``, in id order, as column → value in column order."""
    return list(_dicts(conn.execute(f"SELECT * FROM {table} WHERE id > ? ORDER BY id", [last_id])))


def id_range(conn: sqlite3.Connection, table: str, lo: int, hi: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and the rows (value tuples, in id order) whose id lies in ``lo``..``hi`` inclusive."""
    cursor = conn.execute(f"SELECT * FROM {table} WHERE id BETWEEN ? AND ? ORDER BY id", [lo, hi])
    return [d[0] for d in cursor.description], cursor.fetchall()


def ids_after(conn: sqlite3.Connection, table: str, last_id: int) -> list[tuple[int, str | None]]:
    """``(id, session_id)`` of the rows whose id is above ``last_id``, in id order."""
    return [(int(r[0]), r[1]) for r in conn.execute(
        f"SELECT id, session_id FROM {table} WHERE id > ? ORDER BY id", [last_id])]


def owners(conn: sqlite3.Connection, table: str, session_id: str | None = None, *, key: str = "id",
           owner: str | None = "session_id") -> Iterator[tuple[Any, str | None]]:
    """``(key, session)`` of every row in storage order, ``owner`` naming the column that holds the row's session
    (a session is its own; None: the rows belong to no session); with ``session_id`` only that session's rows
    and rows of no session."""
    column = "NULL" if owner is None else owner
    if session_id is None or owner is None:
        yield from conn.execute(f"SELECT {key}, {column} FROM {table} ORDER BY rowid")
    else:
        yield from conn.execute(
            f"SELECT {key}, {owner} FROM {table} WHERE {owner} = ? OR {owner} IS NULL ORDER BY rowid",
            [session_id])


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


def row_keys(conn: sqlite3.Connection, table: str, key: str, order: str) -> list[str]:
    """Every row's key, in ``order`` (columns to sort by, e.g. ``started_at, id``)."""
    return [str(r[0]) for r in conn.execute(f"SELECT {key} FROM {table} ORDER BY {order}")]


# -- the chain ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """One row of the ``chain`` table: a sealed row (or id range) and its keyed hash."""

    seq: int
    table: str
    row_key: str
    session_id: str | None
    origin: str
    at: float
    content: str
    mac: str
    #: The link's place among the links of accounts and approvals (None for every other table): those links
    #: run 1, 2, 3 … without a gap, so one removed, moved to another row or table, is seen without walking the
    #: whole chain.
    account_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Head:
    """The ``chain_head`` row: the last link's place and keyed hash, and how many links of accounts and approvals
    there are and the last one's keyed hash, all under a keyed hash of its own."""

    seq: int
    mac: str
    head_mac: str
    account_count: int = 0
    account_mac: str = ""


_OLD_LINK_COLUMNS = "seq, tbl, row_key, session_id, origin, at, content, mac"
_LINK_COLUMNS = _OLD_LINK_COLUMNS + ", account_seq"


def links(conn: sqlite3.Connection) -> Iterator[Link]:
    """Every link, in chain order."""
    columns = _LINK_COLUMNS if has_account_order(conn) else _OLD_LINK_COLUMNS
    for values in conn.execute(f"SELECT {columns} FROM chain ORDER BY seq"):
        yield Link(*values)


def link_values(conn: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    """Every link as a plain tuple in :class:`Link`'s field order (``account_seq`` None before the upgrade that
    added it), in chain order: what a walk over millions of links reads without building an object for each."""
    if has_account_order(conn):
        return iter(conn.execute(f"SELECT {_LINK_COLUMNS} FROM chain ORDER BY seq"))
    return iter(conn.execute(f"SELECT {_OLD_LINK_COLUMNS}, NULL FROM chain ORDER BY seq"))


def latest_links(conn: sqlite3.Connection) -> Iterator[tuple[str, str, str, str | None]]:
    """``(table, row_key, content, session_id)`` of the latest link over each row, in the order of those links:
    read from the database as it goes (SQLite sorts on disk when it must), whatever the chain's length."""
    # With a single max() SQLite takes the other columns from the row that holds the maximum.
    for table, row_key, content, session_id, _seq in conn.execute(
            "SELECT tbl, row_key, content, session_id, MAX(seq) AS latest FROM chain GROUP BY tbl, row_key "
            "ORDER BY latest"):
        yield str(table), str(row_key), str(content), session_id


def rows_without_links(conn: sqlite3.Connection, table: str, *, key: str = "id",
                       owner: str | None = "session_id") -> Iterator[tuple[Any, str | None]]:
    """``(key, session)`` of the rows of ``table`` that no link names, in storage order (``owner`` as in
    :func:`owners`)."""
    column = "NULL" if owner is None else owner
    yield from conn.execute(
        f"SELECT {key}, {column} FROM {table} AS r WHERE NOT EXISTS "
        f"(SELECT 1 FROM chain WHERE tbl = ? AND row_key = CAST(r.{key} AS TEXT)) ORDER BY rowid", [table])


def sealed_ranges(conn: sqlite3.Connection, table: str) -> Iterator[tuple[int, int]]:
    """The id ranges ``(lo, hi)`` the links over a range table hold, by their low end (keys ``lo-hi``)."""
    for lo, hi in conn.execute(
            "SELECT CAST(row_key AS INTEGER) AS lo, CAST(substr(row_key, instr(row_key, '-') + 1) AS INTEGER) "
            "FROM chain WHERE tbl = ? ORDER BY lo", [table]):
        yield int(lo), int(hi)


def account_links(conn: sqlite3.Connection) -> list[Link]:
    """The links of accounts and approvals, in their own order."""
    return [Link(*values) for values in conn.execute(
        f"SELECT {_LINK_COLUMNS} FROM chain WHERE account_seq IS NOT NULL ORDER BY account_seq")]


def head(conn: sqlite3.Connection, ordered: bool | None = None) -> Head | None:
    """The chain's head, or None when nothing was ever sealed (or it was removed); ``ordered``: whether the
    database has :func:`add_account_order`'s columns, when the caller knows."""
    ordered = has_account_order(conn) if ordered is None else ordered
    columns = "seq, mac, head_mac" + (", account_count, account_mac" if ordered else "")
    found = conn.execute(f"SELECT {columns} FROM chain_head WHERE id = 1").fetchone()
    if found is None:
        return None
    extra = (int(found[3]), str(found[4])) if len(found) > 3 else ()
    return Head(int(found[0]), str(found[1]), str(found[2]), *extra)


def row_keys_newest_first(conn: sqlite3.Connection, table: str) -> Iterator[str]:
    """The row keys of the links over ``table``, the latest first."""
    for (row_key,) in conn.execute("SELECT row_key FROM chain WHERE tbl = ? ORDER BY seq DESC", [table]):
        yield str(row_key)


def mac_at(conn: sqlite3.Connection, seq: int) -> str | None:
    """The keyed hash of link ``seq``, or None when there is no such link."""
    found = conn.execute("SELECT mac FROM chain WHERE seq = ?", [seq]).fetchone()
    return None if found is None else str(found[0])


def at_of(conn: sqlite3.Connection, seq: int) -> float | None:
    """When link ``seq`` was written, or None when there is no such link."""
    found = conn.execute("SELECT at FROM chain WHERE seq = ?", [seq]).fetchone()
    return None if found is None else float(found[0])


def latest_link(conn: sqlite3.Connection, table: str, row_key: str) -> Link | None:
    """The latest link over one row, or None when it was never sealed."""
    found = conn.execute(f"SELECT {_OLD_LINK_COLUMNS} FROM chain WHERE tbl = ? AND row_key = ? ORDER BY seq DESC "
                         "LIMIT 1", [table, row_key]).fetchone()
    return None if found is None else Link(*found)


def count(conn: sqlite3.Connection) -> int:
    """How many links the chain holds."""
    return int(conn.execute("SELECT COUNT(*) FROM chain").fetchone()[0])


def latest_content(conn: sqlite3.Connection, table: str, row_key: str) -> str | None:
    """The content hash the latest link over one row holds, or None when it was never sealed."""
    found = conn.execute("SELECT content FROM chain WHERE tbl = ? AND row_key = ? ORDER BY seq DESC LIMIT 1",
                         [table, row_key]).fetchone()
    return None if found is None else str(found[0])


def append(conn: sqlite3.Connection, new_links: Sequence[Link], new_head: Head, ordered: bool | None = None) -> None:
    """Add links at the chain's end and move its head (inside the caller's transaction); ``ordered`` as for
    :func:`head`."""
    if has_account_order(conn) if ordered is None else ordered:
        conn.executemany(
            f"INSERT INTO chain ({_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(link.seq, link.table, link.row_key, link.session_id, link.origin, link.at, link.content, link.mac,
              link.account_seq) for link in new_links],
        )
        conn.execute(
            "INSERT INTO chain_head (id, seq, mac, head_mac, account_count, account_mac) VALUES (1, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, mac = excluded.mac, head_mac = excluded.head_mac, "
            "account_count = excluded.account_count, account_mac = excluded.account_mac",
            [new_head.seq, new_head.mac, new_head.head_mac, new_head.account_count, new_head.account_mac],
        )
        return
    # A database not yet upgraded to schema 6 (a migration sealing what an older version wrote): no accounts.
    conn.executemany(
        f"INSERT INTO chain ({_OLD_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(link.seq, link.table, link.row_key, link.session_id, link.origin, link.at, link.content, link.mac)
         for link in new_links],
    )
    conn.execute(
        "INSERT INTO chain_head (id, seq, mac, head_mac) VALUES (1, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, mac = excluded.mac, head_mac = excluded.head_mac",
        [new_head.seq, new_head.mac, new_head.head_mac],
    )


# -- the database around the chain ----------------------------------------------------------------


def add_account_order(conn: Any) -> None:
    """The column that orders the links of accounts and approvals, and where they end in the head (part of a
    schema migration)."""
    conn.execute("ALTER TABLE chain ADD COLUMN account_seq INTEGER")
    conn.execute("CREATE UNIQUE INDEX chain_account_seq ON chain (account_seq) WHERE account_seq IS NOT NULL")
    conn.execute("ALTER TABLE chain_head ADD COLUMN account_count INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE chain_head ADD COLUMN account_mac TEXT NOT NULL DEFAULT ''")


def has_account_order(conn: sqlite3.Connection) -> bool:
    """Whether the chain has :func:`add_account_order`'s columns (a database upgraded to schema 6)."""
    return any(row[1] == "account_seq" for row in conn.execute("PRAGMA table_info(chain)"))


def integrity_check(conn: sqlite3.Connection, *, quick: bool) -> str:
    """SQLite's own check of the file (``quick``: without the index-to-table comparison), lines joined by "; "."""
    pragma = "PRAGMA quick_check" if quick else "PRAGMA integrity_check"
    return "; ".join(str(r[0]) for r in conn.execute(pragma).fetchall())


def triggers(conn: sqlite3.Connection) -> dict[str, str]:
    """Every trigger of the database: its name and its statement as SQLite keeps it."""
    return {str(r[0]): str(r[1]) for r in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")}


def names(conn: sqlite3.Connection, kind: str) -> set[str]:
    """The names of the database's objects of one kind (``table``, ``trigger``, ``index``)."""
    return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = ?", [kind])}


def key_fingerprint(conn: sqlite3.Connection) -> str | None:
    """The fingerprint of the key the database is sealed with, or None when none is recorded (also in a database
    from before the ``security`` table)."""
    if "security" not in names(conn, "table"):
        return None
    found = conn.execute("SELECT value FROM security WHERE name = 'key_fingerprint'").fetchone()
    return None if found is None else str(found[0])


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's schema version (``PRAGMA user_version``)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


@contextlib.contextmanager
def one_snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction around the block (unless one is open already): every statement in it reads the file as it
    was at the first, whatever another connection commits meanwhile."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")  # only read: nothing to keep
