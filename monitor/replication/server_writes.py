"""What a chair writes to the clinic's PostgreSQL: shipped rows, how far it got, and its live status.

The writing half of the server's store (the reading half is :mod:`monitor.replication.server_store`,
the tables and roles :mod:`monitor.replication.schema`). :class:`monitor.replication.replicator.Replicator`
decides what to send and when; these functions are the statements that send it. Each is meant to
run inside the caller's server transaction, so a batch and its progress mark commit together.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from monitor.replication.schema import CHANNEL


def columns_of(conn: psycopg.Connection, table: str) -> set[str]:
    """The columns the server's ``table`` has (an older server schema may lack newer ones)."""
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s",
        [table],
    ).fetchall()
    return {str(r[0]) for r in rows}


def shipped_up_to(conn: psycopg.Connection, origin: str) -> int | None:
    """The last outbox number the server committed for the chair database ``origin`` (None: nothing yet)."""
    row = conn.execute("SELECT last_seq FROM replication_progress WHERE origin = %s", [origin]).fetchone()
    return None if row is None else int(row[0])


def mark_shipped(conn: psycopg.Connection, origin: str, last_seq: int) -> None:
    """Record that everything up to outbox number ``last_seq`` of ``origin`` is on the server."""
    conn.execute(
        "INSERT INTO replication_progress (origin, last_seq) VALUES (%s, %s) "
        "ON CONFLICT (origin) DO UPDATE SET last_seq = EXCLUDED.last_seq, shipped_at = now()",
        [origin, last_seq],
    )


def upsert(
    conn: psycopg.Connection,
    table: str,
    key_columns: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[object]],
    *,
    keep_first: bool,
) -> None:
    """Insert rows of ``table`` (``columns``, the key columns first), replacing a row already there.

    With ``keep_first`` a row already on the server is left as it is (the audit log is append-only).
    A replayed batch therefore changes nothing.
    """
    insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() for _ in columns),
    )
    keys = sql.SQL(", ").join(map(sql.Identifier, key_columns))
    if keep_first:
        statement = sql.SQL("{} ON CONFLICT ({}) DO NOTHING").format(insert, keys)
    else:
        updates = [c for c in columns if c not in key_columns]
        statement = sql.SQL("{} ON CONFLICT ({}) DO UPDATE SET {}").format(
            insert,
            keys,
            sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in updates),
        )
    with conn.cursor() as cursor:
        cursor.executemany(statement, values)


def publish_chair(conn: psycopg.Connection, name: str, origin: str, host: str, live_json: str | None) -> None:
    """Refresh this chair's row in ``chairs`` (keeping its last status when ``live_json`` is None) and notify."""
    conn.execute(
        "INSERT INTO chairs (name, origin, host, seen_at, live) VALUES (%s, %s, %s, now(), %s::jsonb) "
        "ON CONFLICT (chair) DO UPDATE SET name = EXCLUDED.name, origin = EXCLUDED.origin, "
        "host = EXCLUDED.host, seen_at = now(), live = COALESCE(EXCLUDED.live, chairs.live)",
        [name, origin, host, live_json],
    )
    # The payload is the chair's role name: the station reads just that chair's row.
    conn.execute("SELECT pg_notify(%s, current_user)", [CHANNEL])
