"""Durable storage of patients, sessions, readings, waveforms, events, alarms and the audit log.

SQLite in WAL mode through sqlite-utils. The schema version lives in ``PRAGMA user_version``
and is raised by ordered migrations. Every open runs ``PRAGMA quick_check``; a damaged file is
refused (:class:`CorruptDatabase`) and never written into. During a recording one thread owns the
writing connection (see :mod:`monitor.writer`); readers open their own connections.
Patient identifiers live only in ``patients``, encrypted (:mod:`monitor.identifiers`); every other
table refers to a random key. Audit entries, events, alarms, readings and waveforms are sealed
into a keyed hash chain in the transaction that writes them (:mod:`monitor.integrity`). The keys
are outside the database (:mod:`monitor.keys`); the file is created readable by its owner only.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import sqlite_utils

from drivers.core.readings import PLETH_RATE_HZ, UNRELIABLE, Flag, Parameter, Reading, flags_text, parse_flags
from monitor import identifiers, integrity
from monitor.constants import STALE_HEARTBEAT_S
from monitor.keys import KeyFileError, Keys, create_private_file, ensure_private_dir, key_file_path, load_keys
from monitor.ownership import owner_alive
from monitor.session import EventKind, Phase, SessionEvent

if TYPE_CHECKING:
    from monitor.replication.server_store import ServerStore


class StoreError(Exception):
    """The database cannot be opened or used; the message says which file and why."""


class SessionNotFound(StoreError):
    """No session has the given id."""


class CorruptDatabase(StoreError):
    """The file failed SQLite's integrity check; nothing may write into it."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"the database {path} is damaged ({problem}); it is not used. Copy what can still be read "
            f"into a new file with `infusion-monitor recover {path} NEW.db`, then use NEW.db"
        )


#: The WAL is truncated back to this size after a checkpoint.
WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024


def _create_v1(db: sqlite_utils.Database) -> None:
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
    db.execute(
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )


def _add_feed_queue_v2(db: sqlite_utils.Database) -> None:
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


def _add_course_v3(db: sqlite_utils.Database) -> None:
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


def _protect_v4(db: sqlite_utils.Database) -> None:
    """Accounts, profile approvals, the hash chain, and identifiers encrypted with the key file's key."""
    from monitor import accounts, approval

    keys = load_keys()
    assert keys is not None  # load_keys creates the key file when there is none
    accounts.create_table(db)
    approval.create_table(db)
    integrity.create_tables(db)
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
    integrity.seal(db.conn, keys, origin=integrity.ORIGIN_UPGRADE, alarm_ids=None)


# Ordered migrations: index i raises user_version from i to i + 1. Never edit a shipped entry.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _create_v1, _add_feed_queue_v2, _add_course_v3, _protect_v4,
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One row of the session list."""

    id: str
    patient: str | None
    started_at: float
    ended_at: float | None
    last_data_at: float | None
    status: str
    phase: str
    phases_reached: tuple[str, ...]
    driver: str | None
    nurse: str | None

    @property
    def length_s(self) -> float:
        """Seconds from start to end (or to the last stored data)."""
        end = self.ended_at if self.ended_at is not None else self.last_data_at
        return max(0.0, (end or self.started_at) - self.started_at)


@dataclass(frozen=True, slots=True)
class StoredAlarm:
    """An alarm as the log keeps it."""

    id: str
    condition: str
    parameter: str | None
    priority: str
    kind: str
    started_at: float
    ended_at: float | None
    limit: float | None
    peak_value: float | None
    escalations: tuple[Any, ...]
    acknowledged_at: float | None
    acknowledged_by: str | None
    message: str
    state: str


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_id() -> str:
    """A random key that says nothing about the patient."""
    return uuid.uuid4().hex


class Store:
    """One connection to the monitor's database (create one per thread)."""

    def __init__(self, path: str | Path, *, readonly: bool = False, check: bool = True, wal: bool = True) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.keys: Keys | None = None
        self._identifiers_encrypted: bool | None = None
        existed = self.path.exists()
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"no database at {self.path}")
                uri = f"file:{self.path}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10)
            else:
                if not self.path.parent.exists():
                    ensure_private_dir(self.path.parent)
                # Owner-only before SQLite opens it; SQLite gives -wal, -shm and -journal the same mode
                # (ones left by an older version are made owner-only too).
                create_private_file(self.path)
                for suffix in ("-wal", "-shm", "-journal"):
                    with contextlib.suppress(OSError):
                        os.chmod(f"{self.path}{suffix}", 0o600)
                conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10, isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA busy_timeout = 10000")
            if not readonly:
                if wal:
                    self.db.execute("PRAGMA journal_mode = WAL")
                # FULL: a committed reading survives power loss, not only a crash of this process.
                self.db.execute("PRAGMA synchronous = FULL")
                self.db.execute("PRAGMA foreign_keys = ON")
                # Deleted or rewritten pages are zeroed, so no old plaintext lingers in free pages.
                self.db.execute("PRAGMA secure_delete = ON")
                # A bounded journal: after each checkpoint the WAL is cut back to this size, so a
                # disk that filled up once is not kept full by the journal.
                self.db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
                if existed and check:
                    self.check_integrity()
                self._migrate()
                self.keys = self._checked_keys(create=True)
                with _Transaction(self.db.conn):  # not self.transaction(): subclasses may not be ready yet
                    # Rows found unsealed were written by something else since the last write.
                    integrity.seal(self.db.conn, self._writing_keys(), origin=integrity.ORIGIN_OUTSIDE,
                                   alarm_ids=None)
            else:
                if check:
                    self.check_integrity()
                version = self.user_version()
                if version > SCHEMA_VERSION:
                    raise StoreError(f"{self.path} was written by a newer version (schema {version})")
                if version >= 4:
                    self.keys = self._checked_keys(create=False)
        except KeyFileError as exc:
            raise StoreError(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            self.close_quietly()
            if "malformed" in str(exc):
                raise CorruptDatabase(self.path, str(exc)) from exc
            raise StoreError(f"cannot use database {self.path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc.strerror or exc}") from exc

    # -- lifecycle ------------------------------------------------------------------------

    def close_quietly(self) -> None:
        """Close the connection if it was opened (used when opening fails half-way)."""
        db = getattr(self, "db", None)
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.conn.close()

    def check_integrity(self) -> None:
        """``PRAGMA quick_check``; a damaged file raises :class:`CorruptDatabase` and is not used."""
        rows = [str(r[0]) for r in self.db.execute("PRAGMA quick_check(20)").fetchall()]
        if rows != ["ok"]:
            self.close_quietly()
            raise CorruptDatabase(self.path, "; ".join(rows[:3]))

    def user_version(self) -> int:
        """Schema version recorded in the file."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.user_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema {version}, newer than this program understands ({SCHEMA_VERSION})"
            )
        for index in range(version, SCHEMA_VERSION):
            with self.transaction():
                MIGRATIONS[index](self.db)
                self.db.execute(f"PRAGMA user_version = {index + 1}")

    def _checked_keys(self, *, create: bool) -> Keys | None:
        """The key file's keys, refused when the database was sealed with another key file."""
        row = self.db.execute("SELECT value FROM security WHERE name = 'key_fingerprint'").fetchone()
        # A database sealed before needs its own key file back, never a fresh one made in its place.
        keys = load_keys(create=create and row is None)
        if keys is None:
            if row is not None and not self.readonly:
                raise StoreError(
                    f"{self.path} needs its key file (fingerprint {row[0]}) at {key_file_path()}, which is missing; "
                    "restore it from its back-up (see the README, 'Identifiers and keys')"
                )
            return None
        if row is not None and row[0] != keys.fingerprint:
            raise StoreError(
                f"{self.path} was written with another key file (fingerprint {row[0]}, this one {keys.fingerprint}"
                f" at {keys.path}); restore that key file from its back-up (see the README, 'Identifiers and keys')"
            )
        return keys

    def _sealing(self, added: dict[str, int], alarm_ids: Iterable[str] = ()) -> _Sealing:
        """Seal what this transaction writes (``added``: rows per table); other unsealed rows are marked
        as written from outside."""
        return _Sealing(self, added, alarm_ids)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with contextlib.suppress(sqlite3.Error):
            self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> _Transaction:
        """BEGIN IMMEDIATE … COMMIT, rolled back on error."""
        return _Transaction(self.db.conn)

    # -- writing --------------------------------------------------------------------------

    def create_patient(
        self, mrn: str | None, name: str | None = None, birth_date: str | None = None, patient_id: str | None = None
    ) -> str:
        """Register a patient (or return the existing one with that MRN); ``patient_id`` if chosen beforehand."""
        keys = self._writing_keys()
        lookup = identifiers.mrn_lookup(keys, mrn) if mrn else None
        if lookup:
            row = self.db.execute("SELECT id FROM patients WHERE mrn_lookup = ?", [lookup]).fetchone()
            if row:
                return str(row[0])
        patient_id = patient_id or new_id()
        with self.transaction():
            self.db.table("patients").insert(
                {"id": patient_id, "mrn": identifiers.encrypt(keys, patient_id, "mrn", mrn),
                 "name": identifiers.encrypt(keys, patient_id, "name", name),
                 "birth_date": identifiers.encrypt(keys, patient_id, "birth_date", birth_date),
                 "mrn_lookup": lookup, "created_at": time.time()}
            )
        return patient_id

    def patient_key_for_mrn(self, mrn: str) -> tuple[str] | None:
        """The row ``(id,)`` of the patient with this MRN, found through its keyed hash (None: no such patient)."""
        if self._encrypted():
            if self.keys is None:
                return None
            row = self.db.execute("SELECT id FROM patients WHERE mrn_lookup = ?",
                                  [identifiers.mrn_lookup(self.keys, mrn)]).fetchone()
        else:
            row = self.db.execute("SELECT id FROM patients WHERE mrn = ?", [mrn]).fetchone()
        return None if row is None else (str(row[0]),)

    def _writing_keys(self) -> Keys:
        if self.keys is None:
            raise StoreError(f"{self.path}: opened read-only or without its key file; cannot write")
        return self.keys

    def create_session(
        self,
        *,
        started_at: float,
        patient_id: str | None,
        driver: str,
        port: str | None,
        plan: str,
        nurse: str | None = None,
        device: str | None = None,
        protocol: str | None = None,
        protocol_sha256: str | None = None,
        session_id: str | None = None,
    ) -> str:
        """Open a new session owned by this process (following the named protocol)."""
        session_id = session_id or new_id()
        with self.transaction():
            self.db.table("sessions").insert(
                {
                    "id": session_id,
                    "patient_id": patient_id,
                    "started_at": started_at,
                    "status": "recording",
                    "phase": Phase.SETUP.value,
                    "phases_reached": json.dumps([Phase.SETUP.value]),
                    "driver": driver,
                    "port": port,
                    "device": device,
                    "plan": plan,
                    "nurse": nurse,
                    "protocol": protocol,
                    "protocol_sha256": protocol_sha256,
                    "owner_pid": os.getpid(),
                    "owner_host": socket.gethostname(),
                    "heartbeat_at": time.time(),
                }
            )
        return session_id

    def assign_patient(self, session_id: str, patient_id: str) -> None:
        """Attach a session to a patient (identified at the chair after the recording started)."""
        with self.transaction():
            self.db.execute("UPDATE sessions SET patient_id = ? WHERE id = ?", [patient_id, session_id])

    def claim_session(self, session_id: str) -> None:
        """Take over an unfinished session so that this process continues it."""
        self.session_row(session_id)
        with self.transaction():
            self.db.execute(
                "UPDATE sessions SET status='recording', ended_at=NULL, owner_pid=?, owner_host=?, "
                "heartbeat_at=? WHERE id=?",
                [os.getpid(), socket.gethostname(), time.time(), session_id],
            )

    def write_batch(
        self,
        session_id: str,
        readings: Sequence[Reading] = (),
        events: Sequence[SessionEvent] = (),
        alarms: Sequence[dict[str, Any]] = (),
        session_update: dict[str, Any] | None = None,
    ) -> None:
        """Write everything pending in one transaction (all or nothing)."""
        numeric_rows = []
        wave_blocks: dict[tuple[str, str], list[Reading]] = {}
        for r in readings:
            if r.parameter is Parameter.PLETH:
                wave_blocks.setdefault((r.parameter.value, r.source), []).append(r)
            else:
                numeric_rows.append(
                    (session_id, r.t, r.parameter.value, r.value, r.unit, flags_text(r.flags), r.source)
                )
        added = {"readings": len(numeric_rows), "waveforms": len(wave_blocks), "events": len(events)}
        with self.transaction(), self._sealing(added, [str(a["id"]) for a in alarms]):
            conn = self.db.conn
            if numeric_rows:
                conn.executemany(
                    "INSERT INTO readings (session_id, t, parameter, value, unit, status, source) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    numeric_rows,
                )
            for (parameter, source), samples in wave_blocks.items():
                conn.execute(
                    "INSERT INTO waveforms (session_id, parameter, t0, rate_hz, n, samples, source, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    _waveform_row(session_id, parameter, source, samples),
                )
            if events:
                conn.executemany(
                    "INSERT INTO events (session_id, t, kind, phase, user, detail) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (session_id, e.t, e.kind.value, e.phase.value, e.user, json.dumps(dict(e.detail)))
                        for e in events
                    ],
                )
            for alarm in alarms:
                self.db.table("alarms").upsert(dict(alarm, session_id=session_id), pk="id")
            if session_update:
                sets = ", ".join(f"{key} = ?" for key in session_update)
                conn.execute(f"UPDATE sessions SET {sets} WHERE id = ?", [*session_update.values(), session_id])

    def audit(
        self, action: str, *, user: str | None, session_id: str | None = None, at: float | None = None, **detail: Any
    ) -> None:
        """Append to the audit log (who did what, when, wall-clock time; ``at`` when it was held)."""
        with self.transaction(), self._sealing({"audit": 1}):
            self.db.execute(
                "INSERT INTO audit (at, user, action, session_id, detail) VALUES (?, ?, ?, ?, ?)",
                [time.time() if at is None else at, user, action, session_id, json.dumps(detail, default=str)],
            )

    def end_session(self, session_id: str, status: str, ended_at: float) -> None:
        """Mark a session complete or closed and release ownership."""
        with self.transaction():
            self.db.execute(
                "UPDATE sessions SET status=?, ended_at=?, owner_pid=NULL WHERE id=?",
                [status, ended_at, session_id],
            )

    # -- reading --------------------------------------------------------------------------

    def session_row(self, session_id: str) -> dict[str, Any]:
        """The stored session row; ``latest`` names the most recent session."""
        if session_id == "latest":
            row = self.db.execute("SELECT id FROM sessions ORDER BY started_at DESC LIMIT 1").fetchone()
            if row is None:
                raise SessionNotFound("there are no sessions in this database yet")
            session_id = row[0]
        rows = list(self.db.query("SELECT * FROM sessions WHERE id = ?", [session_id]))
        if not rows:
            matches = list(self.db.query("SELECT * FROM sessions WHERE id LIKE ?", [session_id + "%"]))
            if len(matches) == 1 and len(session_id) >= 6:
                return matches[0]
            raise SessionNotFound(f"no session with id '{session_id}'")
        return rows[0]

    def patient_row(self, patient_id: str | None) -> dict[str, Any] | None:
        """Identifiers of a patient (kept apart from session data)."""
        if not patient_id:
            return None
        rows = list(self.db.query("SELECT * FROM patients WHERE id = ?", [patient_id]))
        if not rows:
            return None
        row = rows[0]
        row.pop("mrn_lookup", None)
        if not self._encrypted():
            return row
        for name in identifiers.FIELDS:
            row[name] = self._identifier(row["id"], name, row[name])
        return row

    def _encrypted(self) -> bool:
        """True when this file keeps identifiers encrypted (schema 4 on)."""
        if self._identifiers_encrypted is None:
            self._identifiers_encrypted = self.user_version() >= 4
        return self._identifiers_encrypted

    def _identifier(self, patient_id: str, field: str, stored: str | None) -> str | None:
        """A decrypted identifier; a value that cannot be decrypted is shown as such, never guessed."""
        if stored is None:
            return None
        if self.keys is None:
            return "(encrypted: key file missing)"
        try:
            return identifiers.decrypt(self.keys, patient_id, field, stored)
        except identifiers.IdentifierError:
            return "(cannot be decrypted: wrong key file or altered)"

    def status_of(self, row: dict[str, Any]) -> str:
        """recording, complete, closed, or unfinished (owner gone without closing)."""
        status = str(row["status"])
        if status != "recording":
            return status
        same_host = row.get("owner_host") == socket.gethostname()
        if same_host:
            # The owner's file lock decides: the kernel drops it when the owner dies, and a live
            # owner keeps it however stale its heartbeat (a stalled disk delays heartbeats).
            alive = owner_alive(self.path, str(row["id"]))
            if alive is not None:
                return "recording" if alive else "unfinished"
        heartbeat = row.get("heartbeat_at") or 0.0
        if same_host and not _pid_alive(row.get("owner_pid")):
            return "unfinished"
        if time.time() - heartbeat > STALE_HEARTBEAT_S:
            return "unfinished"
        return "recording"

    def sessions(self) -> list[SessionSummary]:
        """Every session, newest first."""
        out = []
        rows = self.db.query(
            "SELECT s.*, p.mrn AS patient_mrn, "
            "(SELECT MAX(t) FROM readings r WHERE r.session_id = s.id) AS last_data_at "
            "FROM sessions s LEFT JOIN patients p ON p.id = s.patient_id ORDER BY s.started_at DESC"
        )
        for row in rows:
            out.append(
                SessionSummary(
                    id=row["id"],
                    patient=self._identifier(row["patient_id"], "mrn", row["patient_mrn"])
                    if row["patient_id"] and self._encrypted() else row["patient_mrn"],
                    started_at=row["started_at"],
                    ended_at=row["ended_at"],
                    last_data_at=row["last_data_at"],
                    status=self.status_of(row),
                    phase=row["phase"],
                    phases_reached=tuple(json.loads(row["phases_reached"] or "[]")),
                    driver=row["driver"],
                    nurse=row["nurse"],
                )
            )
        return out

    def unfinished_sessions(self) -> list[SessionSummary]:
        """Sessions left open by a process that died."""
        return [s for s in self.sessions() if s.status == "unfinished"]

    def readings(
        self, session_id: str, parameters: Iterable[Parameter] | None = None, since: float | None = None
    ) -> Iterator[Reading]:
        """Stored numeric readings of a session in time order."""
        sql = "SELECT t, parameter, value, status, source FROM readings WHERE session_id = ?"
        args: list[Any] = [session_id]
        if parameters is not None:
            names = [Parameter(p).value for p in parameters]
            sql += f" AND parameter IN ({', '.join('?' for _ in names)})"
            args += names
        if since is not None:
            sql += " AND t >= ?"
            args.append(since)
        sql += " ORDER BY t, id"
        for t, parameter, value, status, source in self.db.execute(sql, args):
            yield Reading(t=t, parameter=Parameter(parameter), value=value, source=source, flags=parse_flags(status))

    def last_data_at(self, session_id: str) -> float | None:
        """Time of the newest stored reading, pleth sample or event of a session (None: nothing stored)."""
        row = self.db.execute(
            "SELECT MAX(t) FROM ("
            "SELECT MAX(t) AS t FROM readings WHERE session_id = ? "
            "UNION ALL SELECT MAX(t0 + (n - 1) / rate_hz) FROM waveforms WHERE session_id = ? "
            "UNION ALL SELECT MAX(t) FROM events WHERE session_id = ?)",
            [session_id, session_id, session_id],
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def reading_count(self, session_id: str) -> int:
        """Number of stored numeric readings."""
        return int(self.db.execute("SELECT COUNT(*) FROM readings WHERE session_id = ?", [session_id]).fetchone()[0])

    def waveform(self, session_id: str, parameter: Parameter = Parameter.PLETH) -> tuple[list[float], list[float]]:
        """All samples of a waveform as (times, values)."""
        times: list[float] = []
        values: list[float] = []
        for t0, rate, n, blob in self.db.execute(
            "SELECT t0, rate_hz, n, samples FROM waveforms WHERE session_id = ? AND parameter = ? ORDER BY t0",
            [session_id, parameter.value],
        ):
            samples = array("f")
            samples.frombytes(blob)
            times.extend(t0 + i / rate for i in range(n))
            values.extend(samples)
        return times, values

    def events(self, session_id: str) -> list[SessionEvent]:
        """The timeline of a session."""
        out = []
        for t, kind, phase, user, detail in self.db.execute(
            "SELECT t, kind, phase, user, detail FROM events WHERE session_id = ? ORDER BY t, id", [session_id]
        ):
            try:
                event_kind = EventKind(kind)
            except ValueError:
                event_kind = EventKind.TECHNICAL
            out.append(
                SessionEvent(
                    t=t, kind=event_kind, phase=Phase(phase), user=user, detail=json.loads(detail or "{}")
                )
            )
        return out

    def alarms(self, session_id: str) -> list[StoredAlarm]:
        """The alarm log of a session, oldest first."""
        out = []
        for row in self.db.query("SELECT * FROM alarms WHERE session_id = ? ORDER BY started_at", [session_id]):
            out.append(
                StoredAlarm(
                    id=row["id"],
                    condition=row["condition"],
                    parameter=row["parameter"],
                    priority=row["priority"],
                    kind=row["kind"],
                    started_at=row["started_at"],
                    ended_at=row["ended_at"],
                    limit=row["limit"],
                    peak_value=row["peak_value"],
                    escalations=tuple(json.loads(row["escalations"] or "[]")),
                    acknowledged_at=row["acknowledged_at"],
                    acknowledged_by=row["acknowledged_by"],
                    message=row["message"] or "",
                    state=row["state"] or "",
                )
            )
        return out

    def audit_log(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Audit entries, oldest first (all, or of one session)."""
        if session_id is None:
            return list(self.db.query("SELECT * FROM audit ORDER BY id"))
        return list(self.db.query("SELECT * FROM audit WHERE session_id = ? ORDER BY id", [session_id]))

    # -- what the review side reads in bulk (the clinic's server answers the same questions) -----------
    # Rows here are plain tuples: a day-long session has hundreds of thousands of readings, and the
    # review turns them into arrays without a Python object per reading.

    def alarm_counts(self, session_ids: Sequence[str] | None = None) -> list[tuple[str, str, int]]:
        """``(session id, priority, number of alarms)`` of every session (or of the given ones)."""
        query = "SELECT session_id, priority, COUNT(*) FROM alarms"
        args: list[Any] = []
        if session_ids is not None:
            query += f" WHERE session_id IN ({', '.join('?' for _ in session_ids)})"
            args = list(session_ids)
        return [(str(sid), str(priority), int(n))
                for sid, priority, n in self.db.execute(query + " GROUP BY session_id, priority", args)]

    def trend_rows(self, session_id: str) -> list[tuple[str, float, float | None, str | None]]:
        """``(parameter, t, value, status)`` of every numeric reading of a session, in time order."""
        # In index order (no sort in SQLite).
        return self.db.execute(
            "SELECT parameter, t, value, status FROM readings WHERE session_id = ? ORDER BY t, id", [session_id]
        ).fetchall()

    def has_waveform(self, session_id: str, parameter: Parameter = Parameter.PLETH) -> bool:
        """Whether any samples of a waveform were kept for the session (without reading them)."""
        row = self.db.execute(
            "SELECT 1 FROM waveforms WHERE session_id = ? AND parameter = ? LIMIT 1", [session_id, parameter.value]
        ).fetchone()
        return row is not None

    def waveform_blocks(
        self, session_id: str, parameter: Parameter, start: float | None = None, end: float | None = None
    ) -> list[tuple[float, float, int, bytes]]:
        """``(t0, rate_hz, n, float32 samples)`` of the stored blocks of a waveform, in time order;
        with ``start`` and ``end`` only the blocks that overlap that window."""
        sql = "SELECT t0, rate_hz, n, samples FROM waveforms WHERE session_id = ? AND parameter = ?"
        args: list[Any] = [session_id, parameter.value]
        if start is not None and end is not None:
            # A block is at most minutes long (one write of the recorder): one that started an hour before the
            # window cannot reach into it, so the index on t0 bounds the search.
            sql += " AND t0 <= ? AND t0 >= ? AND t0 + n / rate_hz >= ?"
            args += [end, start - 3600.0, start]
        return self.db.execute(sql + " ORDER BY t0", args).fetchall()

    def course_plan_row(self, patient_id: str) -> tuple[int, float, float, str | None] | None:
        """The patient's planned course ``(sessions, interval days, booster interval days, note)``, if set."""
        row = self.db.execute(
            "SELECT planned_sessions, interval_days, booster_interval_days, note FROM course_plans "
            "WHERE patient_id = ?", [patient_id],
        ).fetchone()
        return None if row is None else (int(row[0]), float(row[1]), float(row[2]), row[3])

    def course_sessions(self, patient_id: str) -> list[dict[str, Any]]:
        """The patient's sessions, oldest first: id, started_at, ended_at, status, protocol and what
        :meth:`status_of` needs."""
        return list(self.db.query(
            "SELECT id, started_at, ended_at, status, protocol, owner_host, owner_pid, heartbeat_at "
            "FROM sessions WHERE patient_id = ? ORDER BY started_at", [patient_id],
        ))

    def events_of_kinds(
        self, session_ids: Sequence[str], kinds: Sequence[EventKind]
    ) -> list[tuple[str, float, str, str | None]]:
        """``(session id, t, kind, detail JSON)`` of the sessions' events of these kinds, by session and time."""
        if not session_ids or not kinds:
            return []
        marks = ", ".join("?" for _ in session_ids)
        kind_marks = ", ".join("?" for _ in kinds)
        return self.db.execute(
            f"SELECT session_id, t, kind, detail FROM events WHERE session_id IN ({marks}) AND kind IN ({kind_marks}) "
            "ORDER BY session_id, t, id",
            [*session_ids, *(k.value for k in kinds)],
        ).fetchall()

    def reading_extreme(
        self, session_id: str, parameter: Parameter, highest: bool, since: float, before: float | None = None
    ) -> float | None:
        """The highest (or lowest) reliable value of a parameter from ``since`` until ``before``."""
        end_clause, end_args = ("AND t < ?", [before]) if before is not None else ("", [])
        row = self.db.execute(
            f"SELECT {'MAX' if highest else 'MIN'}(value) FROM readings WHERE session_id = ? AND parameter = ? "
            f"AND t >= ? {end_clause} AND {_RELIABLE_SQL}",
            [session_id, parameter.value, since, *end_args],
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])


def _reliable_sql() -> str:
    """A WHERE condition true for readings with a value and no flag that makes them untrustworthy.

    The status column holds sorted, comma-separated flag names, so each unreliable flag is
    looked for as a whole name between commas.
    """
    padded = "(',' || COALESCE(status, '') || ',')"
    flags = " AND ".join(f"instr({padded}, ',{flag.value},') = 0" for flag in sorted(UNRELIABLE))
    # Most readings carry no flag at all: that case is decided without looking for names.
    return f"value IS NOT NULL AND (status IS NULL OR status = '' OR ({flags}))"


_RELIABLE_SQL = _reliable_sql()


def _waveform_row(session_id: str, parameter: str, source: str, samples: list[Reading]) -> tuple[Any, ...]:
    t0 = samples[0].t
    rate = (len(samples) - 1) / max(samples[-1].t - t0, 1e-6) if len(samples) > 1 else PLETH_RATE_HZ
    values = array("f", [s.value if s.value is not None else float("nan") for s in samples])
    flags: set[Flag] = set()
    for s in samples:
        flags |= s.flags
    return (session_id, parameter, t0, rate, len(samples), values.tobytes(), source, flags_text(frozenset(flags)))


class _Sealing:
    """Seals this transaction's rows on exit; unsealed rows beyond them are marked as written from outside."""

    def __init__(self, store: Store, added: dict[str, int], alarm_ids: Iterable[str]) -> None:
        self.store = store
        self.added = added
        self.alarm_ids = alarm_ids

    def __enter__(self) -> None:
        self.store._writing_keys()  # refuse before writing anything that could not be sealed

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            integrity.seal(self.store.db.conn, self.store._writing_keys(), alarm_ids=list(self.alarm_ids),
                           expected=self.added)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.nested = False

    def __enter__(self) -> sqlite3.Connection:
        self.nested = self.conn.in_transaction
        if not self.nested:
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.nested:
            return
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


#: What the review side reads from: this computer's database or the clinic's server (the same read methods).
Reader: TypeAlias = "Store | ServerStore"
