"""The HL7 feed's store-and-forward queue in the chair's database.

Per followed session a cursor says which stored readings were already turned into messages (and
the number of the next one); queued messages wait in ``feed_queue`` until the receiver accepts them,
and a message the receiver keeps refusing is set aside in ``feed_dead_letter``. The cursor moves in the
transaction that queues, so a message lost to a power cut is queued again. What the messages say
is :mod:`monitor.feed`'s business; this module only keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from drivers.core.readings import Parameter, Reading, parse_flags
from monitor import identifiers
from monitor.store.database import Store

#: The set-aside messages: the feed's own table, made when a feed first runs on the file.
DEAD_LETTER_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS feed_dead_letter ("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, control_id TEXT NOT NULL, "
    "observed_at REAL NOT NULL, queued_at REAL NOT NULL, message TEXT NOT NULL, "
    "attempts INTEGER NOT NULL, last_error TEXT, dead_at REAL NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far a followed session's readings were queued."""

    session_id: str
    last_reading_id: int
    next_number: int


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One message to queue (``observed_at``: time of its observations)."""

    control_id: str
    observed_at: float
    queued_at: float
    text: str


@dataclass(frozen=True, slots=True)
class QueueState:
    """Depth of the queue and what the oldest message went through."""

    queued: int
    oldest_observed_at: float | None
    attempts_on_oldest: int
    last_error: str | None
    dead_letters: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the receiver refused ``max_refusals`` times, set aside."""

    id: int
    session_id: str
    control_id: str
    observed_at: float
    attempts: int
    last_error: str | None
    dead_at: float


def ensure_dead_letter_table(store: Store) -> None:
    """Create the dead-letter table when the file has none yet."""
    with store.transaction():
        store.db.execute(DEAD_LETTER_TABLE)


def commit_without_waiting(store: Store) -> None:
    """Let this (the feed's own) connection commit without waiting for the disk.

    A queued message lost to a power cut is queued again, since the cursor moves in the same
    transaction; so the feed's writes need not wait for the disk.
    """
    store.db.execute("PRAGMA synchronous = NORMAL")


def follow(store: Store, session_id: str, at: float) -> None:
    """Start queuing the readings of a session from its first reading (idempotent)."""
    with store.transaction():
        store.db.execute(
            "INSERT OR IGNORE INTO feed_cursor (session_id, last_reading_id, next_number, attached_at) "
            "VALUES (?, 0, 1, ?)",
            [session_id, at],
        )


def cursors(store: Store) -> list[Cursor]:
    """Every followed session and how far it was queued."""
    rows = store.db.execute("SELECT session_id, last_reading_id, next_number FROM feed_cursor").fetchall()
    return [Cursor(str(sid), int(last), int(number)) for sid, last, number in rows]


def readings_after(store: Store, session_id: str, last_reading_id: int, limit: int) -> list[tuple[int, Reading]]:
    """Up to ``limit`` stored numeric readings after ``last_reading_id``, as (row id, reading), in row order."""
    rows = store.db.execute(
        "SELECT id, t, parameter, value, status, source FROM readings WHERE session_id = ? AND id > ? "
        "ORDER BY id LIMIT ?",
        [session_id, last_reading_id, limit],
    ).fetchall()
    return [
        (int(row_id), Reading(t=t, parameter=Parameter(p), value=v, source=src or "", flags=parse_flags(status)))
        for row_id, t, p, v, status, src in rows
    ]


def _sealed(store: Store, session_id: str, control_id: str, text: str) -> str:
    """A message as it waits in the database: its PID segment names the patient, so it is encrypted with the
    identifiers' key (bound to its session and control id) like the patients table."""
    if store.keys is None:
        return text
    sealed = identifiers.encrypt(store.keys, session_id, identifiers.feed_message_field(control_id), text)
    assert sealed is not None
    return sealed


class UnreadableMessage(Exception):
    """The oldest queued message was not written by this program (not encrypted with this database's key, or
    altered, or moved to another session or control id): it must not be sent."""

    def __init__(self, message_id: int, control_id: str, why: str) -> None:
        super().__init__(why)
        self.message_id = message_id
        self.control_id = control_id


def _opened(store: Store, session_id: str, control_id: str, stored: str) -> str:
    """A queued message's text; :class:`identifiers.IdentifierError` when it was not queued by this program.

    Messages queued before they were encrypted were encrypted at the upgrade to schema 8, and a store that writes
    has the keys, so a readable one in the queue of a store with keys was written into the file by hand: sent, it
    would put whatever it says (any patient, any values) into the clinic's records as this chair's."""
    if store.keys is None:
        return stored
    if not stored.startswith(identifiers.PREFIX):
        raise identifiers.IdentifierError("is not encrypted with this database's key (written outside this program)")
    try:
        opened = identifiers.decrypt(store.keys, session_id, identifiers.feed_message_field(control_id), stored)
    except identifiers.IdentifierError:
        raise identifiers.IdentifierError(
            "cannot be decrypted with this database's key (altered, or moved from another message, outside this "
            "program)") from None
    assert opened is not None
    return opened


def enqueue(store: Store, session_id: str, messages: Sequence[QueuedMessage], last_reading_id: int,
            next_number: int) -> None:
    """Queue messages and move the session's cursor past the readings they carry, in one transaction."""
    with store.transaction():
        store.db.conn.executemany(
            "INSERT INTO feed_queue (session_id, control_id, observed_at, queued_at, message) VALUES (?, ?, ?, ?, ?)",
            [(session_id, m.control_id, m.observed_at, m.queued_at, _sealed(store, session_id, m.control_id, m.text))
             for m in messages],
        )
        store.db.execute(
            "UPDATE feed_cursor SET last_reading_id = ?, next_number = ? WHERE session_id = ?",
            [last_reading_id, next_number, session_id],
        )


def oldest(store: Store) -> tuple[int, str, str] | None:
    """The oldest queued message as (id, control id, text), None when the queue is empty;
    :class:`UnreadableMessage` when it was not queued by this program."""
    row = store.db.execute("SELECT id, session_id, control_id, message FROM feed_queue ORDER BY id LIMIT 1").fetchone()
    if row is None:
        return None
    try:
        return int(row[0]), str(row[2]), _opened(store, str(row[1]), str(row[2]), str(row[3]))
    except identifiers.IdentifierError as exc:
        raise UnreadableMessage(int(row[0]), str(row[2]), str(exc)) from None


def record_attempt(store: Store, message_id: int, at: float, error: str) -> None:
    """Note a failed delivery of a queued message."""
    with store.transaction():
        store.db.execute(
            "UPDATE feed_queue SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? WHERE id = ?",
            [at, error, message_id],
        )


def delivered(store: Store, message_id: int) -> None:
    """Take a message the receiver accepted off the queue."""
    with store.transaction():
        store.db.execute("DELETE FROM feed_queue WHERE id = ?", [message_id])


def set_aside(store: Store, message_id: int, at: float) -> str | None:
    """Move a queued message to the dead-letter table; the session it belonged to."""
    with store.transaction():
        store.db.execute(
            "INSERT INTO feed_dead_letter (session_id, control_id, observed_at, queued_at, message, attempts, "
            "last_error, dead_at) SELECT session_id, control_id, observed_at, queued_at, message, attempts, "
            "last_error, ? FROM feed_queue WHERE id = ?",
            [at, message_id],
        )
        row = store.db.execute("SELECT session_id FROM feed_queue WHERE id = ?", [message_id]).fetchone()
        store.db.execute("DELETE FROM feed_queue WHERE id = ?", [message_id])
    return None if row is None else str(row[0])


def pending(store: Store) -> int:
    """Messages waiting in the queue."""
    return int(store.db.execute("SELECT COUNT(*) FROM feed_queue").fetchone()[0])


def queue_state(store: Store) -> QueueState:
    """Queue depth, the oldest message's attempts and error, and how many are set aside."""
    count, oldest_at = store.db.execute("SELECT COUNT(*), MIN(observed_at) FROM feed_queue").fetchone()
    first = store.db.execute("SELECT attempts, last_error FROM feed_queue ORDER BY id LIMIT 1").fetchone()
    dead = store.db.execute("SELECT COUNT(*) FROM feed_dead_letter").fetchone()[0]
    return QueueState(
        queued=int(count),
        oldest_observed_at=oldest_at,
        attempts_on_oldest=int(first[0]) if first else 0,
        last_error=first[1] if first else None,
        dead_letters=int(dead),
    )


def dead_letters(store: Store) -> list[DeadLetter]:
    """Messages set aside, oldest first."""
    ensure_dead_letter_table(store)
    rows = store.db.execute(
        "SELECT id, session_id, control_id, observed_at, attempts, last_error, dead_at FROM feed_dead_letter "
        "ORDER BY id"
    ).fetchall()
    return [DeadLetter(int(r[0]), r[1], r[2], float(r[3]), int(r[4]), r[5], float(r[6])) for r in rows]


def requeue(store: Store, letters: Sequence[DeadLetter]) -> None:
    """Put set-aside messages back at the end of the queue, in one transaction."""
    with store.transaction():
        for d in letters:
            store.db.execute(
                "INSERT INTO feed_queue (session_id, control_id, observed_at, queued_at, message) "
                "SELECT session_id, control_id, observed_at, queued_at, message FROM feed_dead_letter WHERE id = ?",
                [d.id],
            )
            store.db.execute("DELETE FROM feed_dead_letter WHERE id = ?", [d.id])
