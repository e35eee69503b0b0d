"""Reading the clinic-wide history from the server, with the same read methods as :class:`monitor.store.Store`.

Sessions from every chair are here, so a patient's course spans all of them: :meth:`ServerStore.course`
finds every session of an MRN, whichever chair registered the patient (each chair has its own
random patient key; the MRN joins them). Connect as a reader role: this class never writes.

A session's rows are those its own chair's login wrote: a row another login put into it (possible before
schema 6) is not shown as the session's, and a row that cannot be read is passed over rather than ending
the whole read. Both are counted, logged, and named by :meth:`ServerStore.set_aside` (an export's record
line says so).
"""

from __future__ import annotations

import json
import logging
import time
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from drivers.core.readings import UNRELIABLE, Parameter, Reading, parse_flags
from monitor.alarms.model import AlarmRecord, Priority
from monitor.constants import HEARTBEAT_INTERVAL_S, STALE_HEARTBEAT_S
from monitor.replication import tls
from monitor.replication.live import SHOWN, LiveAlarm
from monitor.replication.replicator import CONNECT_TIMEOUT_S, redacted
from monitor.replication.schema import CHANNEL, READER_GROUP, REMS_SUBMITTED_FROM
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import (
    SessionNotFound,
    SessionSearch,
    SessionSummary,
    StoreError,
    alarm_from_row,
    outbox,
    search_conditions,
)
from monitor.text_rules import name_key

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# The last reading's time matters only while a session has no end (its length so far); a closed
# session's end says it, and skipping 12,000 index probes keeps a year's list fast.
#: Seconds since the server received a session's latest heartbeat, on the server's clock alone (NULL for a
#: session whose heartbeat arrived before the server kept that time).
_HEARTBEAT_AGE = "EXTRACT(EPOCH FROM now() - {0}heartbeat_seen_at)::float8 AS heartbeat_age_s"

_SUMMARY_SQL = (
    "SELECT s.id, s.started_at, s.ended_at, s.status, s.phase, s.phases_reached, s.driver, s.nurse, "
    "s.heartbeat_at, " + _HEARTBEAT_AGE.format("s.") + ", p.mrn AS patient_mrn, "
    "CASE WHEN s.ended_at IS NULL THEN (SELECT MAX(r.t) FROM readings r WHERE r.session_id = s.id "
    "AND r.chair = s.chair) "
    "END AS last_data_at "
    "FROM sessions s LEFT JOIN patients p ON p.id = s.patient_id"
)

#: Said when the server's schema lacks what a read needs.
_OLDER_SCHEMA = "the server {} has a schema older than this program: its owner runs 'infusion-monitor server migrate'"

_SESSION_SQL = "SELECT *, " + _HEARTBEAT_AGE.format("") + " FROM sessions"


def _own(table: str) -> str:
    """A WHERE condition true for the rows of ``table`` (a name or alias) written by their session's own chair:
    a row another login put into a session is not the session's."""
    return f"EXISTS (SELECT 1 FROM sessions own WHERE own.id = {table}.session_id AND own.chair = {table}.chair)"


def _search_where(search: SessionSearch) -> tuple[str, list[Any]]:
    """The WHERE clause and arguments of a session search on the server (where MRNs are readable)."""
    where, args = search_conditions(search, "%s", " AND " + _own("a"))
    if search.mrn_contains:
        where.append("strpos(lower(p.mrn), %s) > 0")
        args.append(search.mrn_contains.strip().lower())
    return (" WHERE " + " AND ".join(where) if where else ""), args


#: The tables of a session's record. (Its audit entries are not counted: a chair's audit log names any session its
#: staff read from the server, an export of another chair's session too.)
_OF_A_SESSION = ("readings", "waveforms", "events", "alarms")


#: A session whose heartbeat has not arrived for this long (two of a chair's intervals) has stopped sending it.
QUIET_SESSION_S = 2 * HEARTBEAT_INTERVAL_S

# The station's view of each chair: its row in ``chairs`` and the patient of the session it reports (only a session
# of its own login: a status naming another chair's session does not show that chair's patient); whether the server
# holds that session open, or ended with its heartbeats stopped (a login that marked its session ended on the server
# while its chair records on does not end the tile: the chair's heartbeats go on arriving).
_CHAIRS_SQL = (
    "SELECT c.chair, c.name, c.live, p.mrn, p.name, c.origin, "
    "GREATEST(0, EXTRACT(EPOCH FROM now() - c.seen_at))::float8, "
    "s.id IS NOT NULL AND s.ended_at IS NULL AND s.phase IS DISTINCT FROM 'complete', "
    "s.id IS NOT NULL AND (s.ended_at IS NOT NULL OR s.phase = 'complete') AND (s.heartbeat_seen_at IS NULL OR "
    f"s.heartbeat_seen_at < now() - make_interval(secs => {QUIET_SESSION_S})), s.origin FROM chairs c "
    "LEFT JOIN sessions s ON s.id = c.live->>'session_id' AND s.chair = c.chair "
    "LEFT JOIN patients p ON p.id = s.patient_id"
)


@dataclass(frozen=True, slots=True)
class ChairRow:
    """One chair database's row as the server holds it: its latest live status still as sent (JSON)."""

    chair: str
    name: str | None
    live: Any
    patient_mrn: str | None
    patient_name: str | None
    origin: str
    #: Seconds since the server last heard from this chair database, on the server's clock.
    silent_s: float = 0.0
    #: The session the status names is on the server, neither ended nor complete there.
    session_open: bool = False
    #: The session the status names is on the server, ended or complete there, its heartbeats stopped.
    session_ended: bool = False
    #: The chair database the server holds that session as (the one that last sent its row; empty: not there).
    session_origin: str = ""


#: Every patient row of an MRN that more than one row holds, with the chair that sent it (its latest name for the
#: chair database it came from) and the sessions attached to it.
_SHARED_MRN_SQL = (
    "SELECT p.mrn, p.id, p.name, p.birth_date, p.chair, "
    "(SELECT c.name FROM chairs c WHERE c.chair = p.chair ORDER BY c.origin = p.origin DESC, c.seen_at DESC "
    "LIMIT 1) AS chair_name, "
    "ARRAY(SELECT s.id FROM sessions s WHERE s.patient_id = p.id ORDER BY s.started_at, s.id) AS sessions "
    "FROM patients p WHERE p.mrn IN (SELECT mrn FROM patients WHERE mrn IS NOT NULL AND mrn <> '' "
    "{only} GROUP BY mrn HAVING COUNT(*) > 1) ORDER BY p.mrn, p.created_at, p.id"
)


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """One patient row of an MRN: who it says the patient is, which chair sent it and its sessions there."""

    patient_id: str
    chair: str
    chair_name: str | None
    name: str | None
    birth_date: str | None
    sessions: tuple[str, ...]

    @property
    def where(self) -> str:
        """``Chair 2 (sessions 1a2b3c4d, 5e6f7a8b)``: the chair and its sessions, no identifiers."""
        sessions = [s[:8] for s in self.sessions]
        which = f"session{'s' if len(sessions) > 1 else ''} {', '.join(sessions)}" if sessions else "no session"
        return f"{self.chair_name or self.chair} ({which})"


@dataclass(frozen=True, slots=True)
class IdentityConflict:
    """An MRN that patient rows (of any chairs) hold with names or birth dates that differ, by the rule the chair
    uses when it identifies a patient (:func:`monitor.text_rules.same_name`; birth dates exactly; a missing field
    is no conflict)."""

    mrn: str
    #: "name", "birth date" or both.
    fields: tuple[str, ...]
    #: Every patient row of the MRN, oldest first.
    records: tuple[IdentityRecord, ...]

    @property
    def versions(self) -> list[tuple[IdentityRecord, ...]]:
        """The records grouped by the identity they hold (name as compared, and birth date)."""
        groups: dict[tuple[str, str], list[IdentityRecord]] = {}
        for record in self.records:
            groups.setdefault((name_key(record.name or ""), record.birth_date or ""), []).append(record)
        return [tuple(group) for group in groups.values()]

    @property
    def warning(self) -> str:
        """What a course of this MRN says of it, naming chairs and sessions only (a de-identified course too)."""
        versions = "; ".join(f"version {n}: {', '.join(r.where for r in group)}"
                             for n, group in enumerate(self.versions, 1))
        fields = " and ".join(f"{field}s" for field in self.fields)
        return (f"IDENTITY CONFLICT: the server holds this MRN with different {fields} "
                f"({versions}); these may be two people, shown here as one course: check each record before "
                "relying on it")


def _conflict(mrn: str, records: Sequence[IdentityRecord]) -> IdentityConflict | None:
    """The conflict among the patient rows of one MRN (None: they agree wherever both hold a field)."""
    names = {name_key(r.name) for r in records if r.name and r.name.strip()}
    births = {r.birth_date for r in records if r.birth_date}
    fields = tuple(field for field, values in (("name", names), ("birth date", births)) if len(values) > 1)
    return IdentityConflict(mrn, fields, tuple(records)) if fields else None


def listen_for_chairs(conn: psycopg.Connection) -> None:
    """Subscribe ``conn`` to the chairs' notifications (each names the chair whose row changed)."""
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))


def chair_rows(conn: psycopg.Connection, chairs: Collection[str] | None = None) -> list[ChairRow]:
    """The rows of the logins ``chairs`` (every chair when None): one per chair database."""
    with conn.cursor(row_factory=tuple_row) as cursor:
        if chairs is None:
            rows = cursor.execute(_CHAIRS_SQL).fetchall()
        else:
            rows = cursor.execute(_CHAIRS_SQL + " WHERE c.chair = ANY(%s)", [list(chairs)]).fetchall()
    return [ChairRow(str(chair), name, live, mrn, patient, str(origin), float(silent or 0.0), bool(session_open),
                     bool(session_ended), str(session_origin or ""))
            for chair, name, live, mrn, patient, origin, silent, session_open, session_ended, session_origin in rows]


#: Sessions the server holds as recording whose heartbeat arrives (or that were found so before, ``known``), but whose
#: chair's live status does not: no row of ``chairs`` names the session, or the row naming it fell silent while the
#: session's heartbeats went on arriving (a chair of a version older than the server's schema 8 can no longer write
#: its row). With what the server has of each: the last value of each parameter a tile shows, and its open alarms.
_UNREPORTED_SQL = (
    "SELECT s.chair, s.origin, s.id, s.phase, s.started_at, COALESCE(s.heartbeat_at, s.started_at), "
    "GREATEST(0, EXTRACT(EPOCH FROM now() - s.heartbeat_seen_at))::float8, p.mrn, p.name, "
    "(SELECT c.name FROM chairs c WHERE c.chair = s.chair ORDER BY c.origin = s.origin DESC, c.seen_at DESC "
    "LIMIT 1), "
    "(SELECT json_agg(json_build_array(q.parameter, x.t, x.value)) FROM unnest(%(shown)s::text[]) AS q(parameter) "
    "CROSS JOIN LATERAL (SELECT r.t, r.value FROM readings r WHERE r.session_id = s.id AND r.parameter = q.parameter "
    "AND r.chair = s.chair ORDER BY r.t DESC LIMIT 1) x), "
    "(SELECT json_agg(json_build_array(a.id, a.condition, a.priority, a.kind, a.message, a.started_at, "
    "a.acknowledged_at IS NOT NULL) ORDER BY a.started_at) FROM alarms a WHERE a.session_id = s.id "
    "AND a.chair = s.chair AND a.ended_at IS NULL) "
    "FROM sessions s LEFT JOIN patients p ON p.id = s.patient_id "
    "LEFT JOIN LATERAL (SELECT MAX(c.seen_at) AS seen_at FROM chairs c WHERE c.chair = s.chair "
    "AND c.live->>'session_id' = s.id) named ON true "
    "WHERE s.status = 'recording' AND s.ended_at IS NULL AND s.phase IS DISTINCT FROM 'complete' "
    "AND (s.heartbeat_seen_at >= now() - make_interval(secs => %(fresh)s) OR s.id = ANY(%(known)s)) "
    "AND (named.seen_at IS NULL OR s.heartbeat_seen_at > named.seen_at + make_interval(secs => %(silent)s))"
)


@dataclass(frozen=True, slots=True)
class UnreportedSession:
    """A session the server holds as recording, with its heartbeats arriving, whose live status does not reach the
    station; what the server has of it. Times are the chair's clock but ``heartbeat_age_s`` (the server's)."""

    chair: str
    origin: str
    session_id: str
    #: The name the login's chair last reported under (None: it never reported one).
    chair_name: str | None
    patient_mrn: str | None
    patient_name: str | None
    phase: str
    started_at: float
    #: The chair's time of the session's latest heartbeat, and how long ago the server received it.
    heartbeat_at: float
    heartbeat_age_s: float
    values: dict[str, float | None]
    value_times: dict[str, float]
    #: The session's alarms the server holds as not ended.
    alarms: tuple[LiveAlarm, ...] = ()


def _unreported(row: tuple[Any, ...]) -> UnreportedSession:
    """An :class:`UnreportedSession` from its row of :data:`_UNREPORTED_SQL`."""
    chair, origin, session_id, phase, started, beat, age, mrn, patient, name, last, alarms = row
    values = {str(parameter): None if value is None else float(value) for parameter, _t, value in last or ()}
    times = {str(parameter): float(t) for parameter, t, _value in last or ()}
    open_alarms = tuple(
        LiveAlarm(id=str(a_id), condition=str(condition or ""), priority=int(Priority.parse(str(priority))),
                  kind=str(kind or ""), message=str(message or ""), started_at=float(at or 0.0),
                  acknowledged=bool(acknowledged), latched=False)
        for a_id, condition, priority, kind, message, at, acknowledged in alarms or ())
    return UnreportedSession(str(chair), str(origin), str(session_id), name, mrn, patient, str(phase or ""),
                             float(started or 0.0), float(beat or 0.0), float(age or 0.0), values, times, open_alarms)


def unreported_sessions(conn: psycopg.Connection, *, silent_after_s: float,
                        known: Collection[str] = ()) -> list[UnreportedSession]:
    """The sessions recording on the server whose heartbeats arrive (within :data:`STALE_HEARTBEAT_S`; those of
    ``known`` however old) while no live status of their chair names them, or the one naming them has been silent
    ``silent_after_s`` longer than the heartbeats (a chair older than the server's schema).

    A row that cannot be read is logged and left out.
    """
    with conn.cursor(row_factory=tuple_row) as cursor:
        rows = cursor.execute(_UNREPORTED_SQL, {"shown": [p.value for p in SHOWN], "fresh": STALE_HEARTBEAT_S,
                                                "known": list(known), "silent": silent_after_s}).fetchall()
    found = []
    for row in rows:
        try:
            found.append(_unreported(row))
        except _UNREADABLE as exc:
            log.warning("session %s recording on the server cannot be read for the station: %s", row[2], exc)
    return found


def reads_every_chair(conn: psycopg.Connection) -> bool:
    """Whether the login of ``conn`` sees every chair's rows (a reader, or the server's owner); a chair's login
    sees only its own, and a station under it would show one chair as if it were the clinic."""
    row = conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (READER_GROUP,)).fetchone()
    return bool(row and row[0])


def ping(conn: psycopg.Connection) -> None:
    """A round trip to the server: raises :class:`psycopg.Error` when the link is gone."""
    conn.execute("SELECT 1")


def session_rows(conn: psycopg.Connection, table: str, columns: Sequence[str], session_id: str,
                 origins: Sequence[str]) -> list[tuple[Any, ...]]:
    """One session's rows of ``table`` from the chair database that sent as ``origins``, in the chair's key order
    (a local key is unique only within one origin: rows are ordered by origin, newest last, then by key).

    ``columns`` are named as on the chair; ``id`` of a local-keyed table is the server's ``local_id``.
    """
    # Rows keyed by a local integer on the chair are keyed by (origin, local_id) on the server.
    local = outbox.TABLES.get(table) == "local"
    names = sql.SQL(", ").join(
        sql.Identifier("local_id" if column == "id" and local else column) for column in columns
    )
    key = "id" if table == "sessions" else "session_id"
    order = "local_id" if local else "id"
    query = sql.SQL(
        "SELECT {} FROM {} WHERE {} = %s AND origin = ANY(%s) ORDER BY array_position(%s, origin) DESC, {}"
    ).format(names, sql.Identifier(table), sql.Identifier(key), sql.Identifier(order))
    with conn.cursor(row_factory=tuple_row) as cursor:
        return list(cursor.execute(query, [session_id, list(origins), list(origins)]).fetchall())


def _reading(row: dict[str, Any]) -> Reading:
    """A reading from its server row (``t, parameter, value, status, source``)."""
    return Reading(t=row["t"], parameter=Parameter(row["parameter"]), value=row["value"], source=row["source"],
                   flags=parse_flags(row["status"]))


def _event(row: dict[str, Any]) -> SessionEvent:
    """A timeline entry from its server row (``t, kind, phase, user, detail``); an unknown kind is technical."""
    try:
        kind = EventKind(row["kind"])
    except ValueError:
        kind = EventKind.TECHNICAL
    detail = json.loads(row["detail"] or "{}")
    if not isinstance(detail, dict):
        raise ValueError(f"its detail is not an object: {row['detail']!r}")
    return SessionEvent(t=float(row["t"]), kind=kind, phase=Phase(row["phase"]), user=row["user"], detail=detail)


def _samples(row: dict[str, Any]) -> array[float]:
    """The float32 samples of a waveform block from its server row (``n`` of them)."""
    samples = array("f")
    samples.frombytes(bytes(row["samples"]))
    if len(samples) != row["n"]:
        raise ValueError(f"it holds {len(samples)} samples, not {row['n']}")
    return samples


#: What goes wrong when a server row is made into the program's own kind of value.
_UNREADABLE = (ValueError, TypeError, KeyError)
#: Bytes per stored waveform sample (float32).
_SAMPLE_BYTES = array("f").itemsize


def _readable_row(convert: Callable[[dict[str, Any]], object], row: dict[str, Any]) -> bool:
    """Whether ``convert`` can make the row into the program's own kind of value."""
    try:
        convert(row)
    except _UNREADABLE:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SetAside:
    """Rows of a session on the server that are not shown as the session's: per table, how many another login
    wrote into it, and how many cannot be read."""

    others: dict[str, int]
    unreadable: dict[str, int]

    @property
    def text(self) -> str:
        """In words, for an export's record line ("" when nothing was set aside)."""
        parts = []
        if self.others:
            parts.append(f"{_counted(self.others)} written into it by another chair's login")
        if self.unreadable:
            parts.append(f"{_counted(self.unreadable)} that cannot be read")
        return "; ".join(f"not shown: {part}" for part in parts)


def _counted(per_table: dict[str, int]) -> str:
    """``3 rows (readings 2, events 1)``."""
    total = sum(per_table.values())
    tables = ", ".join(f"{table} {n}" for table, n in sorted(per_table.items()))
    return f"{total} row{'s' if total != 1 else ''} ({tables})"


class ServerStore:
    """Read-only access to every chair's sessions on the clinic's PostgreSQL."""

    readonly = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = redacted(url)
        #: (session, table) of the unreadable rows already logged: a long session is logged once per table.
        self._logged: set[tuple[str, str]] = set()
        #: The server's schema gives readers the REMS submissions (see :meth:`_check_rems_submissions`).
        self._rems_submissions_given = False
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                        application_name="infusion-monitor review", row_factory=dict_row)
        except psycopg.Error as exc:
            raise StoreError(f"cannot reach the server {self.path}: {tls.describe_failure(exc, url)}") from exc

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

    def _passed_over(self, session_id: str, table: str, row: dict[str, Any], exc: Exception) -> None:
        """Log a row of ``table`` that cannot be read (once per session and table; :meth:`set_aside` counts them)."""
        if (session_id, table) in self._logged:
            return
        self._logged.add((session_id, table))
        log.warning("%s: a row of %s in session %s cannot be read and is not shown (further ones are counted in "
                    "exports): %s", self.path, table, session_id, exc)

    def _readable(self, session_id: str, table: str, rows: Iterable[dict[str, Any]],
                  convert: Callable[[dict[str, Any]], _T]) -> Iterator[_T]:
        """``convert`` of each row, passing over (and logging) those that cannot be read."""
        for row in rows:
            try:
                yield convert(row)
            except _UNREADABLE as exc:
                self._passed_over(session_id, table, row, exc)

    # -- sessions --------------------------------------------------------------------------

    def session_row(self, session_id: str) -> dict[str, Any]:
        """The session row (``latest``: the most recent of the clinic; a unique prefix of 6+ characters works)."""
        if session_id == "latest":
            rows = self._rows(_SESSION_SQL + " ORDER BY started_at DESC LIMIT 1")
        else:
            rows = self._rows(_SESSION_SQL + " WHERE id = %s", [session_id])
            if not rows and len(session_id) >= 6:
                rows = self._rows(_SESSION_SQL + " WHERE id LIKE %s LIMIT 2", [session_id + "%"])
                if len(rows) > 1:
                    raise SessionNotFound(f"'{session_id}' is the start of more than one session's id on the server: "
                                          "give more of it")
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
        """recording, complete, closed, or unfinished (its chair silent for too long).

        How long the chair has been silent is measured on the server's clock (when its heartbeat arrived,
        against the server's now), so a chair's or reader's clock running ahead or behind changes nothing.
        """
        status = str(row["status"])
        if status != "recording":
            return status
        age = row.get("heartbeat_age_s")
        if age is None:
            # Sent before the server kept the arrival time: the chair's clock is all there is.
            age = time.time() - float(row.get("heartbeat_at") or 0.0)
        return "unfinished" if float(age) > STALE_HEARTBEAT_S else status

    def _summary(self, row: dict[str, Any]) -> SessionSummary:
        return SessionSummary.from_row(row, patient=row["patient_mrn"], status=self.status_of(row))

    def sessions(self, limit: int | None = None) -> list[SessionSummary]:
        """Sessions of every chair, newest first (the newest ``limit`` when given)."""
        return self.find_sessions(SessionSearch(), limit)

    def find_sessions(self, search: SessionSearch, limit: int | None = None) -> list[SessionSummary]:
        """The sessions of every chair a search finds, newest first (the newest ``limit`` when given)."""
        where, args = _search_where(search)
        query = _SUMMARY_SQL + where + " ORDER BY s.started_at DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [self._summary(row) for row in self._rows(query, args)]

    def count_sessions(self, search: SessionSearch) -> int:
        """How many sessions of every chair a search finds (without reading them)."""
        where, args = _search_where(search)
        return int(self._rows("SELECT COUNT(*) AS n FROM sessions s LEFT JOIN patients p ON p.id = s.patient_id"
                              + where, args)[0]["n"])

    def crash_closed(self, session_ids: Sequence[str]) -> frozenset[str]:
        """Which of these sessions were closed after a crash. The server gives a reader its two kinds of audit
        entry whole (:meth:`audit_log`), never the rest of the log, so they are read and picked here."""
        wanted = set(session_ids)
        if not wanted:
            return frozenset()
        return frozenset(str(a["session_id"]) for a in self.audit_log()
                         if a["action"] == "session_closed_after_crash" and a["session_id"] in wanted)

    def course(self, mrn: str) -> list[SessionSummary]:
        """Every session of the patient with this MRN, whichever chair recorded it, oldest first."""
        rows = self._rows(_SUMMARY_SQL + " WHERE p.mrn = %s ORDER BY s.started_at", [mrn])
        return [self._summary(row) for row in rows]

    def identity_conflicts(self, mrn: str | None = None) -> list[IdentityConflict]:
        """The MRNs (or this one) that patient rows of any chairs hold with another name or birth date, by MRN."""
        only = "AND mrn = %s" if mrn is not None else ""
        rows = self._rows(_SHARED_MRN_SQL.format(only=only), [mrn] if mrn is not None else [])
        by_mrn: dict[str, list[IdentityRecord]] = {}
        for row in rows:
            by_mrn.setdefault(str(row["mrn"]), []).append(IdentityRecord(
                str(row["id"]), str(row["chair"]), row["chair_name"], row["name"], row["birth_date"],
                tuple(str(s) for s in row["sessions"] or ())))
        found = (_conflict(key, records) for key, records in by_mrn.items())
        return [conflict for conflict in found if conflict is not None]

    def patient_key_for_mrn(self, mrn: str) -> tuple[str] | None:
        """The row ``(id,)`` of a patient with this MRN (the first any chair registered); its course
        (:meth:`course_sessions`) takes in every chair's sessions of the MRN."""
        rows = self._rows("SELECT id FROM patients WHERE mrn = %s ORDER BY created_at, id LIMIT 1", [mrn])
        return (str(rows[0]["id"]),) if rows else None

    # -- a session's data ------------------------------------------------------------------

    def readings(
        self, session_id: str, parameters: Iterable[Parameter] | None = None, since: float | None = None
    ) -> Iterator[Reading]:
        """Numeric readings of a session in time order."""
        query = "SELECT t, parameter, value, status, source FROM readings WHERE session_id = %s AND " + _own("readings")
        args: list[Any] = [session_id]
        if parameters is not None:
            query += " AND parameter = ANY(%s)"
            args.append([Parameter(p).value for p in parameters])
        if since is not None:
            query += " AND t >= %s"
            args.append(since)
        yield from self._readable(session_id, "readings", self._rows(query + " ORDER BY t, local_id", args), _reading)

    def recent_readings(self, session_id: str, parameters: Iterable[Parameter], span_s: float) -> list[Reading]:
        """Readings of ``parameters`` in the last ``span_s`` seconds before the session's newest reading."""
        rows = self._rows(
            "SELECT t, parameter, value, status, source FROM readings r WHERE session_id = %s AND parameter = ANY(%s) "
            "AND t >= (SELECT MAX(t) FROM readings n WHERE session_id = %s AND " + _own("n") + ") - %s AND "
            + _own("r") + " ORDER BY t, local_id",
            [session_id, [Parameter(p).value for p in parameters], session_id, span_s],
        )
        return list(self._readable(session_id, "readings", rows, _reading))

    def reading_count(self, session_id: str) -> int:
        """Number of numeric readings."""
        rows = self._rows("SELECT COUNT(*) AS n FROM readings WHERE session_id = %s AND " + _own("readings"),
                          [session_id])
        return int(rows[0]["n"])

    def last_data_at(self, session_id: str) -> float | None:
        """Time of the newest reading, pleth sample or event."""
        row = self._rows(
            "SELECT GREATEST((SELECT MAX(t) FROM readings WHERE session_id = %s AND " + _own("readings") + "), "
            "(SELECT MAX(t0 + (n - 1) / rate_hz) FROM waveforms WHERE session_id = %s AND " + _own("waveforms")
            + "), (SELECT MAX(t) FROM events WHERE session_id = %s AND " + _own("events") + ")) AS t",
            [session_id] * 3,
        )[0]
        return None if row["t"] is None else float(row["t"])

    def waveform(self, session_id: str, parameter: Parameter = Parameter.PLETH) -> tuple[list[float], list[float]]:
        """All samples of a waveform as (times, values)."""
        times: list[float] = []
        values: list[float] = []
        rows = self._rows(
            "SELECT t0, rate_hz, n, samples FROM waveforms WHERE session_id = %s AND parameter = %s AND "
            + _own("waveforms") + " ORDER BY t0",
            [session_id, parameter.value],
        )
        for row, samples in self._readable(session_id, "waveforms", rows, lambda row: (row, _samples(row))):
            times.extend(row["t0"] + i / row["rate_hz"] for i in range(row["n"]))
            values.extend(samples)
        return times, values

    def events(self, session_id: str) -> list[SessionEvent]:
        """The timeline of a session."""
        return list(self._readable(session_id, "events", self._event_rows(session_id), _event))

    def _event_rows(self, session_id: str) -> list[dict[str, Any]]:
        return self._rows('SELECT t, kind, phase, "user", detail FROM events WHERE session_id = %s AND '
                          + _own("events") + " ORDER BY t, local_id", [session_id])

    def alarms(self, session_id: str) -> list[AlarmRecord]:
        """The alarm log of a session, oldest first."""
        return list(self._readable(session_id, "alarms", self._alarm_rows(session_id), alarm_from_row))

    def _alarm_rows(self, session_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM alarms WHERE session_id = %s AND " + _own("alarms") + " ORDER BY started_at",
                          [session_id])

    def audit_log(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """The audit entries a review reads, of every chair (or of one session), oldest first by time.

        Only those the server gives a reader (:data:`monitor.replication.schema.READERS_AUDIT_ACTIONS`, each
        written by its session's own chair), without who made them (``user`` is None): the audit log itself is
        read at the chair, by a signed-in admin or physician (``infusion-monitor audit``).
        """
        rows = self._readers_audit("SELECT * FROM im_readers_audit(%s)", [session_id])
        return [dict(row, user=None) for row in rows]

    def _readers_audit(self, query: str, args: Iterable[Any]) -> list[dict[str, Any]]:
        """Rows of a query on ``im_readers_audit`` (the one way a reader reads the audit log)."""
        try:
            return list(self.conn.execute(query, list(args)).fetchall())
        except psycopg.errors.UndefinedFunction as exc:
            raise StoreError(_OLDER_SCHEMA.format(self.path)) from exc
        except psycopg.Error as exc:
            raise StoreError(f"the server {self.path} refused a read: {str(exc).strip()}") from exc

    def _check_rems_submissions(self) -> None:
        """Refuse to answer about REMS submissions from a server that does not give them to readers (before schema
        11 every form would read as not submitted). Asked once per connection: a course asks per session."""
        if self._rems_submissions_given:
            return
        if int(self._rows("SELECT MAX(version) AS v FROM schema_version")[0]["v"] or 0) < REMS_SUBMITTED_FROM:
            raise StoreError(_OLDER_SCHEMA.format(self.path))
        self._rems_submissions_given = True

    def rems_submission(self, session_id: str) -> dict[str, Any] | None:
        """When and by whom a session's REMS form was marked submitted at its chair, as its audit entry replicated
        (None: not yet); the same keys as the chair's row."""
        self._check_rems_submissions()
        rows = self._readers_audit("SELECT at, detail FROM im_readers_audit(%s) WHERE action = 'rems_form_submitted' "
                                   "ORDER BY at LIMIT 1", [session_id])
        if not rows:
            return None
        detail = json.loads(rows[0]["detail"] or "{}")
        at = detail.get("submitted_at")  # an entry made before it said when (the entry's own time, a moment later)
        return {"session_id": session_id, "submitted_at": float(rows[0]["at"] if at is None else at),
                "submitted_by": detail.get("submitted_by"), "reference": detail.get("reference")}

    def sessions_without_rems_submission(self, protocols: list[str]) -> list[tuple[str, float, str | None]]:
        """``(id, started_at, patient_id)`` of every chair's sessions under these protocols whose form was not marked
        submitted at its chair, oldest first."""
        self._check_rems_submissions()
        rows = self._readers_audit(
            "SELECT s.id, s.started_at, s.patient_id FROM sessions s WHERE s.protocol = ANY(%s) AND s.id NOT IN "
            "(SELECT a.session_id FROM im_readers_audit(NULL) a WHERE a.action = 'rems_form_submitted') "
            "ORDER BY s.started_at, s.id",
            [list(protocols)],
        )
        return [(str(row["id"]), float(row["started_at"]), row["patient_id"]) for row in rows]

    def chair_names(self, session_ids: Sequence[str]) -> dict[str, str]:
        """The chair each session was recorded at: the name its chair database last gave itself, else its login."""
        rows = self._rows(
            "SELECT s.id, COALESCE((SELECT c.name FROM chairs c WHERE c.chair = s.chair ORDER BY c.origin = s.origin "
            "DESC, c.seen_at DESC LIMIT 1), s.chair) AS chair FROM sessions s WHERE s.id = ANY(%s)",
            [list(session_ids)],
        )
        return {str(row["id"]): str(row["chair"]) for row in rows}

    def set_aside(self, session_id: str) -> SetAside:
        """The rows of a session not shown as the session's: written into it by another login, or unreadable."""
        counted = self._rows(
            "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {table} WHERE session_id = %s AND NOT {_own(table)}) "
                                  f"AS {table}" for table in _OF_A_SESSION),
            [session_id] * len(_OF_A_SESSION),
        )[0]
        unreadable = {
            "readings": sum(int(group["n"]) for group in self._reading_kinds(session_id)
                            if not _readable_row(_reading, group)),
            "waveforms": int(self._rows(
                "SELECT COUNT(*) AS n FROM waveforms WHERE session_id = %s AND " + _own("waveforms")
                + " AND (samples IS NULL OR n IS NULL OR octet_length(samples) <> n * %s)",
                [session_id, _SAMPLE_BYTES])[0]["n"]),
            "events": sum(not _readable_row(_event, row) for row in self._event_rows(session_id)),
            "alarms": sum(not _readable_row(alarm_from_row, row) for row in self._alarm_rows(session_id)),
        }
        return SetAside(others={t: int(n) for t, n in counted.items() if n},
                        unreadable={t: n for t, n in unreadable.items() if n})

    def _reading_kinds(self, session_id: str) -> list[dict[str, Any]]:
        """The session's readings grouped by what decides whether one can be read (its parameter and flags), as
        rows :func:`_reading` takes, each with how many readings it stands for (``n``)."""
        return self._rows(
            "SELECT 0.0 AS t, NULL AS value, NULL AS source, parameter, status, COUNT(*) AS n FROM readings "
            "WHERE session_id = %s AND " + _own("readings") + " GROUP BY parameter, status",
            [session_id],
        )

    # -- what the review side reads in bulk (the same questions as :class:`monitor.store.Store`) --------

    def alarm_counts(self, session_ids: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        """For every session with alarms (or the given ones): how many of each priority word the log holds."""
        query = "SELECT session_id, priority, COUNT(*) AS n FROM alarms WHERE " + _own("alarms")
        args: list[Any] = []
        if session_ids is not None:
            query += " AND session_id = ANY(%s)"
            args.append(list(session_ids))
        counts: dict[str, dict[str, int]] = {}
        for row in self._rows(query + " GROUP BY session_id, priority", args):
            counts.setdefault(str(row["session_id"]), {})[str(row["priority"])] = int(row["n"])
        return counts

    def reading_rows(self, session_id: str) -> list[tuple[str, float, float | None, str]]:
        """``(parameter, t, value, status)`` of every numeric reading of a session, in time order."""
        try:
            with self.conn.cursor(row_factory=tuple_row) as cursor:
                return list(cursor.execute(
                    "SELECT parameter, t, value, status FROM readings WHERE session_id = %s AND " + _own("readings")
                    + " ORDER BY t, local_id",
                    [session_id],
                ).fetchall())
        except psycopg.Error as exc:
            raise StoreError(f"the server {self.path} refused a read: {str(exc).strip()}") from exc

    def has_waveform(self, session_id: str, parameter: Parameter = Parameter.PLETH) -> bool:
        """Whether any samples of a waveform reached the server for the session."""
        return bool(self._rows("SELECT 1 FROM waveforms WHERE session_id = %s AND parameter = %s AND "
                               + _own("waveforms") + " LIMIT 1",
                               [session_id, parameter.value]))

    def waveform_blocks(
        self, session_id: str, parameter: Parameter = Parameter.PLETH,
        start: float | None = None, end: float | None = None,
    ) -> list[tuple[float, float, int, bytes]]:
        """``(t0, rate_hz, n, float32 samples)`` of the stored blocks of a waveform, in time order;
        with ``start`` and ``end`` only the blocks that overlap that window."""
        query = ("SELECT t0, rate_hz, n, samples FROM waveforms WHERE session_id = %s AND parameter = %s AND "
                 + _own("waveforms"))
        args: list[Any] = [session_id, parameter.value]
        if start is not None and end is not None:
            # Blocks are at most minutes long (see Queries.waveform_blocks).
            query += " AND t0 <= %s AND t0 >= %s AND t0 + n / rate_hz >= %s"
            args += [end, start - 3600.0, start]
        return [(float(row["t0"]), float(row["rate_hz"]), int(row["n"]), bytes(row["samples"]))
                for row in self._rows(query + " ORDER BY t0", args)]

    def course_plan_row(self, patient_id: str) -> tuple[int, float, float, str | None] | None:
        """Planned courses stay at the chair that set them; the server's course follows the protocol's."""
        return None

    def course_sessions(self, patient_id: str) -> list[dict[str, Any]]:
        """The sessions of this patient at every chair (each chair keys the patient anew; the MRN joins
        them), oldest first."""
        return self._rows(
            "SELECT id, started_at, ended_at, status, protocol, owner_host, owner_pid, heartbeat_at, "
            + _HEARTBEAT_AGE.format("") + " FROM sessions "
            "WHERE patient_id = %s OR patient_id IN (SELECT other.id FROM patients me JOIN patients other "
            "ON other.mrn = me.mrn WHERE me.id = %s AND me.mrn IS NOT NULL AND me.mrn <> '') ORDER BY started_at",
            [patient_id, patient_id],
        )

    def events_of_kinds(
        self, session_ids: Sequence[str], kinds: Sequence[EventKind]
    ) -> list[tuple[str, float, str, str | None, str | None]]:
        """``(session id, t, kind, user, detail JSON)`` of the sessions' events of these kinds, by session and
        time."""
        if not session_ids or not kinds:
            return []
        rows = self._rows(
            'SELECT session_id, t, kind, "user", detail FROM events WHERE session_id = ANY(%s) AND kind = ANY(%s) '
            "AND " + _own("events") + " ORDER BY session_id, t, local_id",
            [list(session_ids), [k.value for k in kinds]],
        )
        return [(str(r["session_id"]), float(r["t"]), str(r["kind"]), r["user"], r["detail"]) for r in rows]

    def reading_extreme(
        self, session_id: str, parameter: Parameter, highest: bool, since: float, before: float | None = None
    ) -> float | None:
        """The highest (or lowest) reliable value of a parameter from ``since`` until ``before``."""
        query = (f"SELECT {'MAX' if highest else 'MIN'}(value) AS v FROM readings WHERE session_id = %s "
                 f"AND parameter = %s AND t >= %s AND {_RELIABLE_SQL} AND {_own('readings')}")
        args: list[Any] = [session_id, parameter.value, since]
        if before is not None:
            query += " AND t < %s"
            args.append(before)
        value = self._rows(query, args)[0]["v"]
        return None if value is None else float(value)


def _reliable_sql() -> str:
    """A WHERE condition true for readings with a value and no flag that makes them untrustworthy
    (PostgreSQL's spelling of the store's condition: flags are whole names between commas)."""
    padded = "(',' || COALESCE(status, '') || ',')"
    flags = " AND ".join(f"strpos({padded}, ',{flag.value},') = 0" for flag in sorted(UNRELIABLE))
    return f"value IS NOT NULL AND (status IS NULL OR status = '' OR ({flags}))"


_RELIABLE_SQL = _reliable_sql()


# -- what was changed on the server after a chair wrote it (schema 10, ``server history``) ---------------------
# The server keeps the earlier version of every replicated row updated or deleted, with the login that did it and
# when (``row_history``, :func:`monitor.replication.schema._history_v10`). A chair's own updates are there too (a
# session's phase and end, an alarm's end and acknowledgment): what stands out is a row changed by a login other
# than its chair's, a deletion, or a chair whose count grows without sessions to account for it. The owner and
# readers read it (readers all but the audit log's); a chair's login cannot.


@dataclass(frozen=True, slots=True)
class ChairChanges:
    """One chair's rows changed or deleted on the server since schema 10."""

    chair: str
    #: Distinct rows with an earlier version kept.
    rows: int
    #: Earlier versions kept (a row changed three times keeps three).
    versions: int
    deleted: int
    #: Versions kept of changes made by a login other than the row's own chair's (an administrator, another login).
    by_others: int
    #: ``(table, rows)`` by table name: the rows above, table by table (they add up to :attr:`rows`).
    tables: tuple[tuple[str, int], ...]
    last_at: float

    @property
    def text(self) -> str:
        """One line: ``chair_3: 5 rows changed (sessions 2, alarms 3), 7 earlier versions kept, 0 deleted``."""
        tables = ", ".join(f"{table} {count}" for table, count in self.tables)
        others = f"; {self.by_others} by another login" if self.by_others else ""
        return (f"{self.chair}: {self.rows} row{'s' if self.rows != 1 else ''} changed ({tables}), "
                f"{self.versions} earlier version{'s' if self.versions != 1 else ''} kept, {self.deleted} deleted"
                f"{others}")


@dataclass(frozen=True, slots=True)
class KeptVersion:
    """A row's version before one change (or deletion) on the server."""

    table: str
    row_key: str
    chair: str | None
    session_id: str | None
    operation: str
    changed_by: str
    changed_at: float
    #: The columns the change altered (none for a deletion: the whole row went).
    columns: tuple[str, ...]
    previous: dict[str, Any]

    @property
    def text(self) -> str:
        """One line: what was changed, by whom, and what each changed column held before."""
        what = "deleted" if self.operation == "DELETE" else "changed"
        was = "; ".join(f"{column} was {_shown(self.previous.get(column))}" for column in self.columns)
        whose = f" ({self.chair}'s row)" if self.chair and self.chair != self.changed_by else ""
        return f"{self.table} {self.row_key} {what} by {self.changed_by}{whose}{': ' + was if was else ''}"


#: How much of an earlier value one line shows.
SHOWN_CHARS = 60


def _shown(value: object) -> str:
    """An earlier value as one line shows it (None as ``nothing``, long text cut)."""
    if value is None:
        return "nothing"
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…")


def changed_by_chair(conn: psycopg.Connection[Any]) -> list[ChairChanges]:
    """Each chair's count of rows changed or deleted on the server, by chair login."""
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(
            "SELECT COALESCE(chair, '') AS chair, tbl, COUNT(DISTINCT row_key) AS rows, COUNT(*) AS versions, "
            "COUNT(*) FILTER (WHERE operation = 'DELETE') AS deleted, "
            "COUNT(*) FILTER (WHERE changed_by IS DISTINCT FROM chair) AS by_others, "
            "EXTRACT(EPOCH FROM MAX(changed_at))::float8 AS last_at "
            "FROM row_history GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    by_chair: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_chair.setdefault(str(row["chair"]), []).append(row)
    return [ChairChanges(chair, sum(int(r["rows"]) for r in tables), sum(int(r["versions"]) for r in tables),
                         sum(int(r["deleted"]) for r in tables), sum(int(r["by_others"]) for r in tables),
                         tuple((str(r["tbl"]), int(r["rows"])) for r in tables),
                         max(float(r["last_at"]) for r in tables))
            for chair, tables in by_chair.items()]


#: The fewest leading characters of a session id that name it (as the sessions' own look-up takes them).
SHORTEST_PREFIX = 6
#: How many of the sessions a too-short id matches a refusal names.
NAMED_MATCHES = 3


def history_session(conn: psycopg.Connection[Any], given: str) -> str:
    """The whole id of the session ``given`` names, for :func:`kept_versions`: the id itself or a unique prefix of
    :data:`SHORTEST_PREFIX`+ characters (the 8 every list prints). A session deleted on the server is found by its
    kept versions, so its deletion can still be listed. Raises :class:`SessionNotFound` for an id that names no
    session, or more than one."""
    with conn.cursor(row_factory=tuple_row) as cursor:
        exact = cursor.execute("SELECT 1 FROM sessions WHERE id = %s UNION ALL "
                               "SELECT 1 FROM row_history WHERE session_id = %s LIMIT 1", [given, given]).fetchone()
        if exact is not None:
            return given
        matches = [] if len(given) < SHORTEST_PREFIX else [str(row[0]) for row in cursor.execute(
            "SELECT id FROM sessions WHERE starts_with(id, %s) UNION "
            "SELECT DISTINCT session_id FROM row_history WHERE starts_with(session_id, %s) ORDER BY 1 LIMIT %s",
            [given, given, NAMED_MATCHES + 1]).fetchall()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        shortest = f" (give at least its first {SHORTEST_PREFIX} characters)" if len(given) < SHORTEST_PREFIX else ""
        raise SessionNotFound(f"no session with id '{given}' on the server{shortest}")
    named = ", ".join(matches[:NAMED_MATCHES]) + (", …" if len(matches) > NAMED_MATCHES else "")
    raise SessionNotFound(f"'{given}' is the start of more than one session's id on the server ({named}): "
                          "give more of it")


def kept_versions(conn: psycopg.Connection[Any], session_id: str) -> list[KeptVersion]:
    """Every earlier version kept of a session's rows (the session's own and its alarms', readings' …), oldest
    change first. ``session_id`` is whole (:func:`history_session`)."""
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(
            "SELECT tbl, row_key, chair, session_id, operation, changed_by, "
            "EXTRACT(EPOCH FROM changed_at)::float8 AS changed_at, changed_columns, previous "
            "FROM row_history WHERE session_id = %s ORDER BY changed_at, id", [session_id]).fetchall()
    return [KeptVersion(str(r["tbl"]), str(r["row_key"]), r["chair"], r["session_id"], str(r["operation"]),
                        str(r["changed_by"]), float(r["changed_at"]), tuple(r["changed_columns"] or ()),
                        dict(r["previous"]))
            for r in rows]
