"""Reading the database: sessions, patients, readings, waveforms, events, alarms and the audit log.

:class:`Queries` is the reading half of :class:`monitor.store.Store` (every read the program makes of
the local database is a method here); the writing half, the connection and the migrations live beside it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from drivers.core.readings import UNRELIABLE, Parameter, Reading, parse_flags
from monitor import identifiers
from monitor.alarms.model import AlarmRecord, Priority
from monitor.constants import STALE_HEARTBEAT_S
from monitor.keys import Keys
from monitor.ownership import owner_alive
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import chain, own_keys
from monitor.store.errors import SessionNotFound, StoreError
from monitor.store.rows import alarm_from_row


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

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, patient: str | None, status: str) -> SessionSummary:
        """A session-list row (local or server) with the patient as shown and the status as judged."""
        return cls(
            id=row["id"],
            patient=patient,
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            last_data_at=row["last_data_at"],
            status=status,
            phase=row["phase"],
            phases_reached=tuple(json.loads(row["phases_reached"] or "[]")),
            driver=row["driver"],
            nurse=row["nurse"],
        )

    @property
    def length_s(self) -> float:
        """Seconds from start to end (or to the last stored data)."""
        end = self.ended_at if self.ended_at is not None else self.last_data_at
        return max(0.0, (end or self.started_at) - self.started_at)


@dataclass(frozen=True, slots=True)
class SessionSearch:
    """What a session list is narrowed to; every criterion given must hold (this computer's database and the
    clinic's server answer it alike, in SQL, so a list of thousands is narrowed before it is read)."""

    #: Start time bounds, epoch seconds, half-open.
    started_from: float | None = None
    started_before: float | None = None
    #: Part of the patient's MRN, compared without case.
    mrn_contains: str | None = None
    #: Only sessions whose most urgent alarm had exactly this priority.
    highest_alarm: Priority | None = None
    #: Only sessions with at least one alarm of this priority or a more urgent one.
    min_alarm: Priority | None = None
    #: Only sessions with no alarm at all.
    no_alarms: bool = False


def search_conditions(search: SessionSearch, mark: str, own_alarm: str = "") -> tuple[list[str], list[Any]]:
    """The WHERE conditions (on ``sessions s``) and their arguments for a search's start bounds and alarms, with
    ``mark`` as the driver's placeholder; ``own_alarm`` adds a condition on the alarm row ``a`` (the server counts
    only the rows a session's own chair wrote). The MRN is each store's own: encrypted here, readable there."""
    where: list[str] = []
    args: list[Any] = []
    if search.started_from is not None:
        where.append(f"s.started_at >= {mark}")
        args.append(search.started_from)
    if search.started_before is not None:
        where.append(f"s.started_at < {mark}")
        args.append(search.started_before)

    def alarm_of(priorities: Sequence[Priority]) -> str:
        args.extend(p.label for p in priorities)
        return (f"EXISTS (SELECT 1 FROM alarms a WHERE a.session_id = s.id{own_alarm} "
                f"AND lower(trim(a.priority)) IN ({', '.join(mark for _ in priorities)}))")

    if search.highest_alarm is not None:
        where.append(alarm_of([search.highest_alarm]))
        above = [p for p in Priority if p > search.highest_alarm]
        if above:
            where.append("NOT " + alarm_of(above))
    if search.min_alarm is not None:
        where.append(alarm_of([p for p in Priority if p >= search.min_alarm]))
    if search.no_alarms:
        where.append("NOT " + alarm_of(list(Priority)))
    return where, args


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


class Queries:
    """The read methods of a store connection (mixed into :class:`monitor.store.Store`)."""

    db: sqlite_utils.Database
    path: Path
    keys: Keys | None
    _identifiers_encrypted: bool | None

    def user_version(self) -> int:
        """Schema version recorded in the file."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def patient_key_for_mrn(self, mrn: str) -> tuple[str] | None:
        """The row ``(id,)`` of the patient with this MRN, found through its keyed hash (None: no such patient);
        :class:`StoreError` naming the key file when it is missing (without it no MRN can be found, and "no such
        patient" would be untrue)."""
        if self._encrypted():
            if self.keys is None:
                raise StoreError(own_keys.missing_text(self.path, chain.key_fingerprint(self.db.conn)))
            row = self.db.execute("SELECT id FROM patients WHERE mrn_lookup = ?",
                                  [identifiers.mrn_lookup(self.keys, mrn)]).fetchone()
        else:
            row = self.db.execute("SELECT id FROM patients WHERE mrn = ?", [mrn]).fetchone()
        return None if row is None else (str(row[0]),)

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

    def recorded_by_others_here(self) -> list[dict[str, Any]]:
        """The rows of sessions another live process on this computer is recording now (its session lock held),
        oldest first: what a second start on this database is told about."""
        rows = self.db.query("SELECT * FROM sessions WHERE status = 'recording' AND owner_host = ? "
                             "ORDER BY started_at", [socket.gethostname()])
        return [row for row in rows
                if row.get("owner_pid") != os.getpid() and self.status_of(row) == "recording"]

    def recording_now(self) -> bool:
        """Whether a session of this file is being recorded now, by any process (this one too): its recording
        sends to the clinic's server what is written beside it."""
        rows = self.db.query("SELECT * FROM sessions WHERE status = 'recording'")
        return any(self.status_of(row) == "recording" for row in rows)

    def sessions(self, limit: int | None = None) -> list[SessionSummary]:
        """Every session, newest first (the newest ``limit`` when given)."""
        return self.find_sessions(SessionSearch(), limit)

    def find_sessions(self, search: SessionSearch, limit: int | None = None) -> list[SessionSummary]:
        """The sessions a search finds, newest first (the newest ``limit`` when given)."""
        where, args = self._search_where(search)
        if where is None:
            return []
        query = _SUMMARY_SQL + where + " ORDER BY s.started_at DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [self._summary(row) for row in self.db.query(query, args)]

    def count_sessions(self, search: SessionSearch) -> int:
        """How many sessions a search finds (without reading them)."""
        where, args = self._search_where(search)
        if where is None:
            return 0
        return int(self.db.execute("SELECT COUNT(*) FROM sessions s" + where, args).fetchone()[0])

    def course(self, mrn: str) -> list[SessionSummary]:
        """Every session of the patient with this MRN, oldest first, found through the MRN's keyed hash."""
        patient = self.patient_key_for_mrn(mrn)
        if patient is None:
            return []
        rows = self.db.query(_SUMMARY_SQL + " WHERE s.patient_id = ? ORDER BY s.started_at", list(patient))
        return [self._summary(row) for row in rows]

    def _search_where(self, search: SessionSearch) -> tuple[str | None, list[Any]]:
        """The WHERE clause and arguments of a search (None: the MRN part matches no patient)."""
        where, args = search_conditions(search, "?")
        if search.mrn_contains:
            patients = self._patients_with_mrn_part(search.mrn_contains)
            if not patients:
                return None, []
            # One argument however many patients match (a short part can match thousands).
            where.append("s.patient_id IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(patients))
        return (" WHERE " + " AND ".join(where) if where else ""), args

    def _patients_with_mrn_part(self, part: str) -> list[str]:
        """Ids of the patients whose MRN holds ``part`` (without case). The MRNs are stored encrypted, so each
        patient's is decrypted: one per patient, not one per session."""
        needle = part.strip().lower()
        rows = self.db.execute("SELECT id, mrn FROM patients").fetchall()
        encrypted = self._encrypted()
        return [str(pid) for pid, stored in rows
                if needle in ((self._identifier(pid, "mrn", stored) if encrypted else stored) or "").lower()]

    def _summary(self, row: dict[str, Any]) -> SessionSummary:
        patient = (self._identifier(row["patient_id"], "mrn", row["patient_mrn"])
                   if row["patient_id"] and self._encrypted() else row["patient_mrn"])
        return SessionSummary.from_row(row, patient=patient, status=self.status_of(row))

    def unfinished_sessions(self) -> list[SessionSummary]:
        """Sessions left open by a process that died (only a session still marked recording can be)."""
        rows = self.db.query(_SUMMARY_SQL + " WHERE s.status = 'recording' ORDER BY s.started_at DESC")
        return [summary for summary in map(self._summary, rows) if summary.status == "unfinished"]

    def crash_closed(self, session_ids: Sequence[str]) -> frozenset[str]:
        """Which of these sessions were closed after their recording process died (their
        ``session_closed_after_crash`` audit entry), without reading the rest of the audit log."""
        if not session_ids:
            return frozenset()
        rows = self.db.execute(
            "SELECT DISTINCT session_id FROM audit WHERE action = 'session_closed_after_crash' "
            "AND session_id IN (SELECT value FROM json_each(?))", [json.dumps(list(session_ids))],
        )
        return frozenset(str(row[0]) for row in rows)

    def readings(
        self, session_id: str, parameters: Iterable[Parameter] | None = None, since: float | None = None
    ) -> Iterator[Reading]:
        """Stored numeric readings of a session in time order."""
        sql, args = _readings_query(session_id, parameters, since)
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

    def reading_blocks(
        self, session_id: str, parameters: Iterable[Parameter] | None = None, size: int = 4096
    ) -> Iterator[list[tuple[float, str, float | None, str | None, str]]]:
        """``(t, parameter, value, status, source)`` of the stored numeric readings in time order, as stored,
        ``size`` rows at a time: an export streams a long session without holding it whole."""
        cursor = self.db.conn.execute(*_readings_query(session_id, parameters))
        while block := cursor.fetchmany(size):
            yield block

    def reading_count(self, session_id: str) -> int:
        """Number of stored numeric readings."""
        return int(self.db.execute("SELECT COUNT(*) FROM readings WHERE session_id = ?", [session_id]).fetchone()[0])

    def reading_rows(self, session_id: str) -> list[tuple[str, float, float | None, str]]:
        """``(parameter, t, value, status)`` of every stored numeric reading in time order, as stored.

        One query without a loop per reading, for turning a whole session into arrays.
        """
        # In index order (no sort in SQLite).
        return self.db.execute(
            "SELECT parameter, t, value, status FROM readings WHERE session_id = ? ORDER BY t, id", [session_id]
        ).fetchall()

    def alarm_counts(self, session_ids: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        """For every session with alarms (or the given ones): how many of each priority word the log holds."""
        query = "SELECT session_id, priority, COUNT(*) FROM alarms"
        args: list[Any] = []
        if session_ids is not None:
            query += f" WHERE session_id IN ({', '.join('?' for _ in session_ids)})"
            args = list(session_ids)
        counts: dict[str, dict[str, int]] = {}
        for session_id, priority, n in self.db.execute(query + " GROUP BY session_id, priority", args):
            counts.setdefault(session_id, {})[str(priority)] = int(n)
        return counts

    def has_waveform(self, session_id: str, parameter: Parameter = Parameter.PLETH) -> bool:
        """Whether any samples of a waveform were kept for the session (without reading them)."""
        row = self.db.execute(
            "SELECT 1 FROM waveforms WHERE session_id = ? AND parameter = ? LIMIT 1", [session_id, parameter.value]
        ).fetchone()
        return row is not None

    def waveform_blocks(
        self, session_id: str, parameter: Parameter = Parameter.PLETH,
        start: float | None = None, end: float | None = None,
    ) -> Iterator[tuple[float, float, int, bytes]]:
        """Stored blocks ``(t0, rate_hz, n, float32 samples)`` of a waveform in time order.

        With ``start`` and ``end``, only the blocks that overlap that time window.
        """
        sql = "SELECT t0, rate_hz, n, samples FROM waveforms WHERE session_id = ? AND parameter = ?"
        args: list[Any] = [session_id, parameter.value]
        if start is not None and end is not None:
            # A block is at most minutes long (one write of the recorder): one that started an hour before the
            # window cannot reach into it, so the index on t0 bounds the search.
            sql += " AND t0 <= ? AND t0 >= ? AND t0 + n / rate_hz >= ?"
            args += [end, start - 3600.0, start]
        yield from self.db.execute(sql + " ORDER BY t0", args)

    def waveform(self, session_id: str, parameter: Parameter = Parameter.PLETH) -> tuple[list[float], list[float]]:
        """All samples of a waveform as (times, values)."""
        times: list[float] = []
        values: list[float] = []
        for t0, rate, n, blob in self.waveform_blocks(session_id, parameter):
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

    def alarms(self, session_id: str) -> list[AlarmRecord]:
        """The alarm log of a session, oldest first."""
        rows = self.db.query("SELECT * FROM alarms WHERE session_id = ? ORDER BY started_at", [session_id])
        try:
            return [alarm_from_row(row) for row in rows]
        except ValueError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def rems_submission(self, session_id: str) -> dict[str, Any] | None:
        """The REMS submission row of a session (None: its form is not marked submitted)."""
        rows = list(self.db.query("SELECT * FROM rems_submissions WHERE session_id = ?", [session_id]))
        return rows[0] if rows else None

    def sessions_without_rems_submission(self, protocols: list[str]) -> list[tuple[str, float, str | None]]:
        """``(id, started_at, patient_id)`` of sessions under these protocols with no REMS submission, oldest first."""
        marks = ", ".join("?" for _ in protocols)
        return self.db.execute(
            "SELECT s.id, s.started_at, s.patient_id FROM sessions s "
            f"WHERE s.protocol IN ({marks}) AND s.id NOT IN (SELECT session_id FROM rems_submissions) "
            "ORDER BY s.started_at",
            protocols,
        ).fetchall()

    def audit_entries(
        self, *, session_id: str | None = None, user: str | None = None, action: str | None = None,
        since: float | None = None, until: float | None = None,
    ) -> list[dict[str, Any]]:
        """Audit entries matching every filter given (a user's name compared without case), oldest first."""
        where, values = [], []
        for clause, value in (("session_id = ?", session_id), ("lower(user) = lower(?)", user),
                              ("action = ?", action), ("at >= ?", since), ("at < ?", until)):
            if value is not None:
                where.append(clause)
                values.append(value)
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        return list(self.db.query(f"SELECT * FROM audit{condition} ORDER BY id", values))

    def audit_log(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Audit entries, oldest first (all, or of one session)."""
        if session_id is None:
            return list(self.db.query("SELECT * FROM audit ORDER BY id"))
        return list(self.db.query("SELECT * FROM audit WHERE session_id = ? ORDER BY id", [session_id]))

    # -- a patient's course (the clinic's server answers the same questions) ----------------------------

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
    ) -> list[tuple[str, float, str, str | None, str | None]]:
        """``(session id, t, kind, user, detail JSON)`` of the sessions' events of these kinds, by session and
        time."""
        if not session_ids or not kinds:
            return []
        marks = ", ".join("?" for _ in session_ids)
        kind_marks = ", ".join("?" for _ in kinds)
        return self.db.execute(
            f"SELECT session_id, t, kind, user, detail FROM events WHERE session_id IN ({marks}) "
            f"AND kind IN ({kind_marks}) ORDER BY session_id, t, id",
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


_SUMMARY_SQL = (
    "SELECT s.*, p.mrn AS patient_mrn, "
    "(SELECT MAX(t) FROM readings r WHERE r.session_id = s.id) AS last_data_at "
    "FROM sessions s LEFT JOIN patients p ON p.id = s.patient_id"
)


def _readings_query(session_id: str, parameters: Iterable[Parameter] | None = None,
                    since: float | None = None) -> tuple[str, list[Any]]:
    """The statement and arguments reading ``(t, parameter, value, status, source)`` of a session's numeric
    readings in time order (insertion order among equal times), of some parameters, from a time on."""
    sql = "SELECT t, parameter, value, status, source FROM readings WHERE session_id = ?"
    args: list[Any] = [session_id]
    if parameters is not None:
        names = [Parameter(p).value for p in parameters]
        sql += f" AND parameter IN ({', '.join('?' for _ in names)})"
        args += names
    if since is not None:
        sql += " AND t >= ?"
        args.append(since)
    return sql + " ORDER BY t, id", args


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
