"""What a chair writes to the clinic's PostgreSQL: shipped rows, how far it got, and its live status.

The writing half of the server's store (the reading half is :mod:`monitor.replication.server_store`,
the tables and roles :mod:`monitor.replication.schema`). :class:`monitor.replication.replicator.Replicator`
decides what to send and when; these functions are the statements that send it. Each is meant to
run inside the caller's server transaction, so a batch and its progress mark commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from monitor.replication.schema import CHAIR_GROUP, FINISHED, MOVES_BACK
from monitor.store.outbox import Mark


def writes_as_chair(conn: psycopg.Connection) -> bool | None:
    """Whether the login of ``conn`` may write a chair's rows: a member of the chairs' group (the server's owner
    counts as one). A reader's login (a station's) or a login made by hand without ``GRANT im_chair`` may not: the
    server would refuse every batch and every live status with ``permission denied``. None on a server without
    that group (never migrated: its schema says the rest)."""
    row = conn.execute(
        "SELECT CASE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %(group)s) THEN NULL "
        "ELSE pg_has_role(current_user, %(group)s, 'MEMBER') OR pg_has_role(current_user, "
        "(SELECT datdba FROM pg_database WHERE datname = current_database()), 'MEMBER') END",
        {"group": CHAIR_GROUP},
    ).fetchone()
    return None if row is None or row[0] is None else bool(row[0])


def not_a_chair_text(login: str) -> str:
    """Why the server takes nothing from a chair logged in as ``login``, and what to do."""
    return (f"the login {login} is not a chair's (not a member of {CHAIR_GROUP}; a station's or reviewer's login "
            "reads only), so the server refuses this chair's rows and live status, which wait here: give this "
            f"chair its own login (infusion-monitor server add-chair NAME, or GRANT {CHAIR_GROUP} TO {login})")


def columns_of(conn: psycopg.Connection, table: str) -> set[str]:
    """The columns the server's ``table`` has (an older server schema may lack newer ones)."""
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s",
        [table],
    ).fetchall()
    return {str(r[0]) for r in rows}


def progress(conn: psycopg.Connection, origin: str, *, lock: bool = False) -> Mark | None:
    """How far the server has the chair database ``origin``: its last outbox number and the batch that brought
    it (None: nothing yet). With ``lock`` the row stays locked until the caller's transaction ends, so two
    files sending as one origin cannot both pass the check."""
    query = "SELECT last_seq, batch FROM replication_progress WHERE origin = %s"
    row = conn.execute(query + (" FOR UPDATE" if lock else ""), [origin]).fetchone()
    return None if row is None else Mark(int(row[0]), None if row[1] is None else str(row[1]))


def mark_shipped(conn: psycopg.Connection, origin: str, mark: Mark) -> None:
    """Record that everything up to outbox number ``mark.seq`` of ``origin`` is on the server, brought by
    the batch ``mark.batch``."""
    conn.execute(
        "INSERT INTO replication_progress (origin, last_seq, batch) VALUES (%s, %s, %s) "
        "ON CONFLICT (origin) DO UPDATE SET last_seq = EXCLUDED.last_seq, batch = EXCLUDED.batch, "
        "shipped_at = now()",
        [origin, mark.seq, mark.batch],
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

    With ``keep_first`` a row already on the server is left as it is (the tables a chair never changes,
    :data:`~monitor.replication.schema.INSERT_ONLY`, on which its login has no UPDATE since schema 10); otherwise
    the row takes the values sent, and the server keeps its earlier version when they differ. A replayed batch
    therefore changes nothing.
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


@dataclass(frozen=True, slots=True)
class KeptOnServer:
    """A row of a batch the server refused because it would move a finished session or an ended alarm back
    (:data:`~monitor.replication.schema.MOVES_BACK`, schema 12): the server keeps its own version."""

    #: The row's place among the values handed to :func:`upsert_changing`.
    index: int
    #: The session it is (or belongs to), as the server names it.
    session_id: str
    #: The server's words.
    reason: str


def upsert_changing(
    conn: psycopg.Connection,
    table: str,
    key_columns: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[object]],
) -> list[KeptOnServer]:
    """:func:`upsert` rows of a table a chair changes (sessions, alarms), within the caller's transaction; the rows the
    server refuses as moving a finished record back are left out, the others written, and the refused ones returned.

    The rows go together first; only when the server refuses one that way are they sent again one by one, each in a
    savepoint of its own, so one older row never holds up the batch (nor the chair's rows after it). Any other
    refusal is raised, as before.
    """
    try:
        with conn.transaction():
            upsert(conn, table, key_columns, columns, values, keep_first=False)
        return []
    except psycopg.Error as exc:
        if exc.sqlstate != MOVES_BACK:
            raise
    kept = []
    for index, row in enumerate(values):
        try:
            with conn.transaction():
                upsert(conn, table, key_columns, columns, [row], keep_first=False)
        except psycopg.Error as exc:
            if exc.sqlstate != MOVES_BACK:
                raise
            kept.append(KeptOnServer(index, str(exc.diag.message_detail or ""),
                                     str(exc.diag.message_primary or exc).strip()))
    return kept


@dataclass(frozen=True, slots=True)
class FinishedSession:
    """How the server holds a session of this chair's login that is over there."""

    status: str
    ended_at: float | None


def finished_session(conn: psycopg.Connection, session_id: str) -> FinishedSession | None:
    """The server's end of the session ``session_id`` when it holds it as finished (complete or closed); None when it
    does not (still recording, or not there: a chair's login sees only its own sessions)."""
    row = conn.execute("SELECT status, ended_at FROM sessions WHERE id = %s AND status = ANY(%s)",
                       [session_id, list(FINISHED)]).fetchone()
    return None if row is None else FinishedSession(str(row[0]), None if row[1] is None else float(row[1]))


def publish_chair(
    conn: psycopg.Connection, name: str, origin: str, host: str, live_json: str | None
) -> list[tuple[str, str]]:
    """Refresh this chair database's row in ``chairs`` (keeping its last status when ``live_json`` is None)
    and notify; returns ``(name, host)`` of every other chair database that reports under this login now.

    A former database of the same chair (same name and host, silent for
    :data:`~monitor.replication.schema.FORMER_AFTER_S`) is taken
    off the station, with any word of rows it could not keep: the chair now reports from this one. Since
    schema 8 a chair writes ``chairs`` only through the server's function (it may not lock the table).
    """
    others = conn.execute("SELECT other_name, other_host FROM im_publish_chair(%s, %s, %s, %s::jsonb)",
                          [name, origin, host, live_json]).fetchall()
    return [(str(n), str(h)) for n, h in others]


@dataclass(frozen=True, slots=True)
class HeldElsewhere:
    """Another patient row holding the MRN of a chair's patient with another name or birth date: which field
    differs and where that row is (never its identifiers: a chair's login may not read other chairs' patients)."""

    field: str  # "name" or "birth date"
    chair: str
    chair_name: str | None
    sessions: tuple[str, ...]


def identity_held_elsewhere(conn: psycopg.Connection, session_id: str) -> list[HeldElsewhere]:
    """The patient rows (of any chair) that hold the MRN of the patient of this chair's session ``session_id``
    with another name or birth date (the schema's ``im_identity_conflicts``: the chair's one question about
    other chairs' rows)."""
    rows = conn.execute("SELECT field, chair, chair_name, sessions FROM im_identity_conflicts(%s)",
                        [session_id]).fetchall()
    return [HeldElsewhere(str(field), str(chair), None if name is None else str(name), tuple(sessions or ()))
            for field, chair, name, sessions in rows]


def leave_station(conn: psycopg.Connection, origin: str) -> None:
    """This chair database no longer reports as ``origin`` (it took a new origin id): its row there leaves
    the station."""
    conn.execute("SELECT im_end_tile(%s, NULL)", [origin])


def end_session_tile(conn: psycopg.Connection, origin: str, session_id: str) -> None:
    """The session ``session_id`` of the chair database ``origin`` was closed without its recorder (after a
    crash): its tile leaves the station when that is the session the chair last reported."""
    conn.execute("SELECT im_end_tile(%s, %s)", [origin, session_id])
