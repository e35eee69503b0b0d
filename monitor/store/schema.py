"""The database schema: ordered migrations, each raising ``PRAGMA user_version`` by one.

A new database runs them all; an older one runs those it has not had (:meth:`monitor.store.Store._migrate`).
Migration *i* (index into :data:`MIGRATIONS`) raises the version from *i* to *i + 1*. A shipped entry is
never edited: a change to the schema is a new entry at the end. Each is given the keys the database's own key file
holds, checked before the first migration runs (:mod:`monitor.store.own_keys`); none loads keys of its own.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from monitor import identifiers, integrity
from monitor.keys import Keys
from monitor.store import accounts, approvals, chain, runs


def _create_v1(db: sqlite_utils.Database, keys: Keys) -> None:
    db.table("patients").create(
        {"id": str, "mrn": str, "name": str, "birth_date": str, "created_at": float},
        pk="id",
    )
    db.table("sessions").create(
        {
            "id": str,
            "patient_id": str,
            "started_at": float,
            "ended_at": float,
            "status": str,
            "phase": str,
            "phases_reached": str,
            "driver": str,
            "port": str,
            "device": str,
            "plan": str,
            "baseline": str,
            "nurse": str,
            "owner_pid": int,
            "owner_host": str,
            "heartbeat_at": float,
        },
        pk="id",
        foreign_keys=[("patient_id", "patients", "id")],
    )
    db.table("readings").create(
        {
            "id": int,
            "session_id": str,
            "t": float,
            "parameter": str,
            "value": float,
            "unit": str,
            "status": str,
            "source": str,
        },
        pk="id",
        not_null={"session_id", "t", "parameter", "unit"},
    )
    db.table("readings").create_index(["session_id", "t"])
    # Waveforms are kept as blocks of float32 samples: a 90-minute pleth is 400k samples.
    db.table("waveforms").create(
        {
            "id": int,
            "session_id": str,
            "parameter": str,
            "t0": float,
            "rate_hz": float,
            "n": int,
            "samples": bytes,
            "source": str,
            "status": str,
        },
        pk="id",
    )
    db.table("waveforms").create_index(["session_id", "parameter", "t0"])
    db.table("events").create(
        {
            "id": int,
            "session_id": str,
            "t": float,
            "kind": str,
            "phase": str,
            "user": str,
            "detail": str,
        },
        pk="id",
        not_null={"session_id", "t", "kind"},
    )
    db.table("events").create_index(["session_id", "t"])
    db.table("alarms").create(
        {
            "id": str,
            "session_id": str,
            "condition": str,
            "parameter": str,
            "priority": str,
            "kind": str,
            "started_at": float,
            "ended_at": float,
            "limit": float,
            "peak_value": float,
            "escalations": str,
            "acknowledged_at": float,
            "acknowledged_by": str,
            "message": str,
            "state": str,
        },
        pk="id",
    )
    db.table("alarms").create_index(["session_id", "started_at"])
    db.table("audit").create(
        {"id": int, "at": float, "user": str, "action": str, "session_id": str, "detail": str},
        pk="id",
        not_null={"at", "action"},
    )
    for statement in chain.APPEND_ONLY_TRIGGERS.values():
        db.execute(statement)


def _add_feed_queue_v2(db: sqlite_utils.Database, keys: Keys) -> None:
    """The live feed's store-and-forward queue and, per session, how far readings were queued."""
    db.execute(
        "CREATE TABLE feed_queue ("
        "id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, control_id TEXT NOT NULL, "
        "observed_at REAL NOT NULL, queued_at REAL NOT NULL, message TEXT NOT NULL, "
        "attempts INTEGER NOT NULL DEFAULT 0, last_attempt_at REAL, last_error TEXT)"
    )
    db.execute(
        "CREATE TABLE feed_cursor ("
        "session_id TEXT PRIMARY KEY, last_reading_id INTEGER NOT NULL DEFAULT 0, "
        "next_number INTEGER NOT NULL DEFAULT 1, attached_at REAL NOT NULL)"
    )


def _add_course_v3(db: sqlite_utils.Database, keys: Keys) -> None:
    """The protocol a session follows, a patient's planned course, and REMS form submissions."""
    db.execute("ALTER TABLE sessions ADD COLUMN protocol TEXT")
    db.execute("ALTER TABLE sessions ADD COLUMN protocol_sha256 TEXT")
    db.execute(
        "CREATE TABLE course_plans ("
        "patient_id TEXT PRIMARY KEY REFERENCES patients(id), planned_sessions INTEGER NOT NULL, "
        "interval_days REAL NOT NULL, booster_interval_days REAL NOT NULL, note TEXT, "
        "updated_at REAL NOT NULL, updated_by TEXT)"
    )
    db.execute(
        "CREATE TABLE rems_submissions ("
        "session_id TEXT PRIMARY KEY REFERENCES sessions(id), submitted_at REAL NOT NULL, "
        "submitted_by TEXT, reference TEXT)"
    )
    db.execute("CREATE INDEX sessions_patient ON sessions (patient_id, started_at)")
    # Covering index for per-parameter figures (peak BP, lowest SpO2) over a course of sessions.
    db.execute("CREATE INDEX readings_by_parameter ON readings (session_id, parameter, t, value, status)")


def _protect_v4(db: sqlite_utils.Database, keys: Keys) -> None:
    """Accounts, profile approvals, the hash chain, and identifiers encrypted with the key file's key."""
    accounts.create_table(db)
    approvals.create_table(db)
    chain.create_tables(db)
    db.execute("INSERT INTO security (name, value) VALUES ('key_fingerprint', ?)", [keys.fingerprint])
    db.execute("ALTER TABLE patients ADD COLUMN mrn_lookup TEXT")
    db.execute("CREATE INDEX patients_mrn_lookup ON patients (mrn_lookup)")
    for row in list(db.query("SELECT id, mrn, name, birth_date FROM patients")):
        pid = row["id"]
        db.execute(
            "UPDATE patients SET mrn = ?, name = ?, birth_date = ?, mrn_lookup = ? WHERE id = ?",
            [identifiers.encrypt(keys, pid, "mrn", row["mrn"]), identifiers.encrypt(keys, pid, "name", row["name"]),
             identifiers.encrypt(keys, pid, "birth_date", row["birth_date"]),
             identifiers.mrn_lookup(keys, row["mrn"]) if row["mrn"] else None, pid],
        )
    # What was recorded before this version is sealed now, marked as found at the upgrade.
    integrity.seal(db.conn, keys, origin=integrity.ORIGIN_UPGRADE, versions={"alarms": None})


def _seal_sessions_v5(db: sqlite_utils.Database, keys: Keys) -> None:
    """Sessions join the chain (their patient, phase and status); those recorded before are sealed now, marked
    as found at the upgrade."""
    integrity.seal(db.conn, keys, origin=integrity.ORIGIN_UPGRADE, versions={"sessions": None})


def _seal_accounts_v6(db: sqlite_utils.Database, keys: Keys) -> None:
    """Accounts (name, role, secret hash, disabled) and profile approvals (and their revocation) join the chain;
    those written before are sealed now, marked as found at the upgrade."""
    chain.add_account_order(db.conn)
    integrity.seal(db.conn, keys, origin=integrity.ORIGIN_UPGRADE, versions={"users": None, "profile_approvals": None})


def _add_writer_runs_v7(db: sqlite_utils.Database, keys: Keys) -> None:
    """How far each writer's run is written (:mod:`monitor.store.runs`), so that a commit reported failed that
    went in all the same is never written twice."""
    runs.create_table(db)


def _encrypt_queued_feed_v8(db: sqlite_utils.Database, keys: Keys) -> None:
    """Live-feed messages queued (or set aside) before they were encrypted are encrypted now: their PID segment
    names the patient, and an upgrade left it readable in the file. The connection overwrites what it frees
    (``secure_delete``), as for the identifiers of schema 4."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in ("feed_queue", "feed_dead_letter"):
        if table not in tables:
            continue
        plain = db.execute(f"SELECT id, session_id, control_id, message FROM {table} "
                           "WHERE substr(message, 1, ?) <> ?", [len(identifiers.PREFIX), identifiers.PREFIX])
        for row_id, session_id, control_id, message in plain.fetchall():
            sealed = identifiers.encrypt(keys, session_id, identifiers.feed_message_field(control_id), message)
            db.execute(f"UPDATE {table} SET message = ? WHERE id = ?", [sealed, row_id])


# Ordered migrations: index i raises user_version from i to i + 1. Never edit a shipped entry.
MIGRATIONS: list[Callable[[sqlite_utils.Database, Keys], None]] = [
    _create_v1, _add_feed_queue_v2, _add_course_v3, _protect_v4, _seal_sessions_v5, _seal_accounts_v6,
    _add_writer_runs_v7, _encrypt_queued_feed_v8,
]
SCHEMA_VERSION = len(MIGRATIONS)
