"""How far each writer's run is in the database: the number of the last of its operations written, noted in the same
transaction as that operation.

A commit can be reported failed and still be in the database: a disk that stops answering between writing the log
and confirming it (the confirmation fails; the frames were on the disk already), or a network file system that
loses the reply. The writer then holds rows that are in the record, and writing them again, on its next try or
from its recovery file, would put them there twice. What this table says decides it, whatever the commit reported.

The table is not sealed in the hash chain: its rows change with every commit. Someone who can write the database
could make ``write-held`` leave out rows of a recovery file by raising a number here, which is no more than deleting
that file beside the database would do; a writer believes it only up to the operations it tried to write itself.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

#: The table: one row per session and writer run.
TABLE = "writer_runs"


def create_table(db: sqlite_utils.Database) -> None:
    """Make the table (a migration)."""
    db.execute(
        f"CREATE TABLE {TABLE} (session_id TEXT NOT NULL, run TEXT NOT NULL, through INTEGER NOT NULL, "
        "PRIMARY KEY (session_id, run))"
    )


def note(conn: sqlite3.Connection, session_id: str, run: str, through: int) -> None:
    """Say that ``run``'s operations up to number ``through`` are written (inside the caller's transaction)."""
    conn.execute(
        f"INSERT INTO {TABLE} (session_id, run, through) VALUES (?, ?, ?) "
        "ON CONFLICT (session_id, run) DO UPDATE SET through = MAX(through, excluded.through)",
        [session_id, run, through],
    )


def written_through(conn: sqlite3.Connection, session_id: str, run: str) -> int:
    """The number of the last operation of ``run`` written for ``session_id`` (0: none)."""
    row = conn.execute(f"SELECT through FROM {TABLE} WHERE session_id = ? AND run = ?", [session_id, run]).fetchone()
    return int(row[0]) if row is not None else 0
