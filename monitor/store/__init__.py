"""Durable storage of patients, sessions, readings, waveforms, events, alarms and the audit log.

The one place that speaks SQL to the chair's database, split by job:

* :mod:`monitor.store.schema` — the tables, as ordered migrations (``PRAGMA user_version``);
* :mod:`monitor.store.database` — :class:`Store`: opening (integrity check, migrations, keys),
  transactions and the writes, each sealed into the hash chain (:mod:`monitor.integrity`);
* :mod:`monitor.store.own_keys` — which key file a database needs, decided before anything is written;
* :mod:`monitor.store.queries` — every read (mixed into :class:`Store`);
* :mod:`monitor.store.rows` — payloads (alarm records, waveform blocks) to table rows and back;
* :mod:`monitor.store.operations` — what a recording hands its writer: reading batches, audit entries, calls;
* :mod:`monitor.store.writer` — the writer thread a recording writes through, never waiting for the disk;
* :mod:`monitor.store.held_file` — the recovery file of rows held while the database refused them, and
  ``write-held``, which puts them in;
* :mod:`monitor.store.feed_queue` — the HL7 feed's store-and-forward queue;
* :mod:`monitor.store.accounts`, :mod:`monitor.store.approvals` — account and profile-approval rows;
* :mod:`monitor.store.outbox` — the replication outbox (triggers queue every written row for the server);
* :mod:`monitor.store.chain` — the hash chain's tables (:mod:`monitor.integrity` holds its logic);
* :mod:`monitor.store.witness` — how far each database's chain reached, noted beside the key file;
* :mod:`monitor.store.restores` — the audit entries of a database found older than it was, and of a restore
  accepted;
* :mod:`monitor.store.backup` — a consistent, owner-only copy of the database while it is in use;
* :mod:`monitor.store.recovery` — what can still be read from a damaged file.

The clinic server's PostgreSQL has its own store beside the replication: :mod:`monitor.replication.schema`,
:mod:`monitor.replication.server_writes` and :mod:`monitor.replication.server_store`.

Patient identifiers live only in ``patients``, encrypted (:mod:`monitor.identifiers`); every other
table refers to a random key. The keys are outside the database (:mod:`monitor.keys`); the file is
created readable by its owner only.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TypeAlias

if "numpy" not in sys.modules and "sqlite_utils" not in sys.modules:
    # sqlite-utils imports numpy whenever it is installed, only to name the column types of numpy values,
    # which the store never writes. Without it a command-line process (an export, a record check) starts
    # about 0.1 s sooner and 15 MB smaller; numpy stays importable for whoever needs it (the review chart).
    sys.modules["numpy"] = None  # type: ignore[assignment]  # makes `import numpy` fail inside sqlite-utils
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["numpy"]

from monitor.store.database import WAL_SIZE_LIMIT_BYTES, Store, new_id
from monitor.store.errors import CorruptDatabase, SessionNotFound, StoreError
from monitor.store.queries import SessionSearch, SessionSummary, search_conditions
from monitor.store.restores import RESTORE_ACCEPTED_ACTION, ROLLED_BACK_ACTION
from monitor.store.rows import alarm_from_row, alarm_row
from monitor.store.schema import MIGRATIONS, SCHEMA_VERSION

if TYPE_CHECKING:
    from monitor.replication.server_store import ServerStore

#: What the review side reads from: this computer's database or the clinic's server (the same read methods).
Reader: TypeAlias = "Store | ServerStore"

__all__ = [
    "MIGRATIONS",
    "RESTORE_ACCEPTED_ACTION",
    "ROLLED_BACK_ACTION",
    "SCHEMA_VERSION",
    "WAL_SIZE_LIMIT_BYTES",
    "CorruptDatabase",
    "Reader",
    "SessionNotFound",
    "SessionSearch",
    "SessionSummary",
    "Store",
    "StoreError",
    "alarm_from_row",
    "alarm_row",
    "new_id",
    "search_conditions",
]
