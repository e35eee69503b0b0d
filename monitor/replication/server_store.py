"""Reading the clinic-wide history from the server, with the same read methods as :class:`monitor.store.Store`.

Sessions from every chair are here, so a patient's course spans all of them: :meth:`ServerStore.course`
finds every session of an MRN, whichever chair registered the patient (each chair has its own
random patient key; the MRN joins them). Connect as a reader role: this class never writes.
"""

from __future__ import annotations

import json
import time
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row

from drivers.core.readings import Parameter, Reading, parse_flags
from monitor.alarms.model import AlarmRecord
from monitor.constants import STALE_HEARTBEAT_S
from monitor.replication import tls
from monitor.replication.replicator import CONNECT_TIMEOUT_S, redacted
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import SessionNotFound, SessionSummary, StoreError, alarm_from_row

# The last reading's time matters only while a session has no end (its length so far); a closed
# session's end says it, and skipping 12,000 index probes keeps a year's list fast.
_SUMMARY_SQL = (
    "SELECT s.id, s.started_at, s.ended_at, s.status, s.phase, s.phases_reached, s.driver, s.nurse, "
    "s.heartbeat_at, p.mrn AS patient_mrn, "
    "CASE WHEN s.ended_at IS NULL THEN (SELECT MAX(r.t) FROM readings r WHERE r.session_id = s.id) "
    "END AS last_data_at "
    "FROM sessions s LEFT JOIN patients p ON p.id = s.patient_id"
)


class ServerStore:
    """Read-only access to every chair's sessions on the clinic's PostgreSQL."""

    readonly = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = redacted(url)
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                        application_name="infusion-monitor review", row_factory=dict_row)
        except psycopg.Error as exc:
            raise StoreError(f"cannot reach the server {self.path}: {tls.describe_failure(exc)}") from exc

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.conn.close()

    def __enter__(self) -> ServerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, query: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        try:
            return list(self.conn.execute(query, list(args)).fetchall())
        except psycopg.Error as exc:
            raise StoreError(f"the server {self.path} refused a read: {str(exc).strip()}") from exc

    # -- sessions --------------------------------------------------------------------------

    def session_row(self, session_id: str) -> dict[str, Any]:
        """The session row (``latest``: the most recent of the clinic; a unique prefix of 6+ characters works)."""
        if session_id == "latest":
            rows = self._rows("SELECT * FROM sessions ORDER BY started_at DESC LIMIT 1")
        else:
            rows = self._rows("SELECT * FROM sessions WHERE id = %s", [session_id])
            if not rows and len(session_id) >= 6:
                rows = self._rows("SELECT * FROM sessions WHERE id LIKE %s LIMIT 2", [session_id + "%"])
                rows = rows if len(rows) == 1 else []
        if not rows:
            raise SessionNotFound(f"no session with id '{session_id}' on the server")
        return rows[0]

    def patient_row(self, patient_id: str | None) -> dict[str, Any] | None:
        """Identifiers of a patient."""
        if not patient_id:
            return None
        rows = self._rows("SELECT id, mrn, name, birth_date, created_at FROM patients WHERE id = %s", [patient_id])
        return rows[0] if rows else None

    def status_of(self, row: dict[str, Any]) -> str:
        """recording, complete, closed, or unfinished (its chair silent for too long)."""
        status = str(row["status"])
        if status == "recording" and time.time() - float(row.get("heartbeat_at") or 0.0) > STALE_HEARTBEAT_S:
            return "unfinished"
        return status

    def _summary(self, row: dict[str, Any]) -> SessionSummary:
        return SessionSummary(
            id=row["id"],
            patient=row["patient_mrn"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            last_data_at=row["last_data_at"],
            status=self.status_of(row),
            phase=row["phase"],
            phases_reached=tuple(json.loads(row["phases_reached"] or "[]")),
            driver=row["driver"],
            nurse=row["nurse"],
        )

    def sessions(self, limit: int | None = None) -> list[SessionSummary]:
        """Sessions of every chair, newest first (the newest ``limit`` when given)."""
        query = _SUMMARY_SQL + " ORDER BY s.started_at DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [self._summary(row) for row in self._rows(query)]

    def course(self, mrn: str) -> list[SessionSummary]:
        """Every session of the patient with this MRN, whichever chair recorded it, oldest first."""
        rows = self._rows(_SUMMARY_SQL + " WHERE p.mrn = %s ORDER BY s.started_at", [mrn])
        return [self._summary(row) for row in rows]

    def chair_of(self, session_id: str) -> str:
        """The chair (its login) that recorded a session."""
        return str(self.session_row(session_id)["chair"])

    # -- a session's data ------------------------------------------------------------------

    def readings(
        self, session_id: str, parameters: Iterable[Parameter] | None = None, since: float | None = None
    ) -> Iterator[Reading]:
        """Numeric readings of a session in time order."""
        query = "SELECT t, parameter, value, status, source FROM readings WHERE session_id = %s"
        args: list[Any] = [session_id]
        if parameters is not None:
            query += " AND parameter = ANY(%s)"
            args.append([Parameter(p).value for p in parameters])
        if since is not None:
            query += " AND t >= %s"
            args.append(since)
        for row in self._rows(query + " ORDER BY t, local_id", args):
            yield Reading(t=row["t"], parameter=Parameter(row["parameter"]), value=row["value"],
                          source=row["source"], flags=parse_flags(row["status"]))

    def reading_count(self, session_id: str) -> int:
        """Number of numeric readings."""
        return int(self._rows("SELECT COUNT(*) AS n FROM readings WHERE session_id = %s", [session_id])[0]["n"])

    def last_data_at(self, session_id: str) -> float | None:
        """Time of the newest reading, pleth sample or event."""
        row = self._rows(
            "SELECT GREATEST((SELECT MAX(t) FROM readings WHERE session_id = %s), "
            "(SELECT MAX(t0 + (n - 1) / rate_hz) FROM waveforms WHERE session_id = %s), "
            "(SELECT MAX(t) FROM events WHERE session_id = %s)) AS t",
            [session_id] * 3,
        )[0]
        return None if row["t"] is None else float(row["t"])

    def waveform(self, session_id: str, parameter: Parameter = Parameter.PLETH) -> tuple[list[float], list[float]]:
        """All samples of a waveform as (times, values)."""
        times: list[float] = []
        values: list[float] = []
        for row in self._rows(
            "SELECT t0, rate_hz, n, samples FROM waveforms WHERE session_id = %s AND parameter = %s ORDER BY t0",
            [session_id, parameter.value],
        ):
            samples = array("f")
            samples.frombytes(bytes(row["samples"]))
            times.extend(row["t0"] + i / row["rate_hz"] for i in range(row["n"]))
            values.extend(samples)
        return times, values

    def events(self, session_id: str) -> list[SessionEvent]:
        """The timeline of a session."""
        out = []
        for row in self._rows(
            'SELECT t, kind, phase, "user", detail FROM events WHERE session_id = %s ORDER BY t, local_id',
            [session_id],
        ):
            try:
                kind = EventKind(row["kind"])
            except ValueError:
                kind = EventKind.TECHNICAL
            out.append(SessionEvent(t=row["t"], kind=kind, phase=Phase(row["phase"]), user=row["user"],
                                    detail=json.loads(row["detail"] or "{}")))
        return out

    def alarms(self, session_id: str) -> list[AlarmRecord]:
        """The alarm log of a session, oldest first."""
        return [
            alarm_from_row(row)
            for row in self._rows("SELECT * FROM alarms WHERE session_id = %s ORDER BY started_at", [session_id])
        ]

    def audit_log(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Audit entries of every chair (or of one session), oldest first by time."""
        columns = 'at, "user", action, session_id, detail, chair'
        if session_id is None:
            return self._rows(f"SELECT {columns} FROM audit ORDER BY at, local_id")
        return self._rows(f"SELECT {columns} FROM audit WHERE session_id = %s ORDER BY at, local_id", [session_id])
