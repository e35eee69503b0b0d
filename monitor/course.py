"""The course of treatment: a patient's sessions side by side, the planned series and boosters.

One :class:`CourseRow` per session (any protocol) with the figures a physician compares
across a course: dose, baseline and peak blood pressure with the rise, lowest SpO2, alarms by
priority, lowest MOAA/S, highest CADSS-6, nausea/vomiting, interventions, recovery time to
discharge, discharge scores and the PHQ-9/GAD-7 entered before the infusion. The figures are
computed in SQL per session (aggregates over the readings, not a load of every reading), so a
course of 30 sessions opens quickly; they follow the review's rules - reliable readings only,
the phases taken from the timeline - so each row agrees with that session's own review.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from drivers.core.readings import Parameter
from monitor.alarms.model import Priority
from monitor.dose import DosePlan, InterventionKind, RateChange, add_rate_change, delivered_mg, weighed
from monitor.entered_in_error import standing_entries
from monitor.protocols import DEFAULT_PROTOCOL, CourseDefaults, Protocol, ProtocolError, load_protocol
from monitor.review import change_from
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Reader, Store

if TYPE_CHECKING:
    from monitor.replication.server_store import IdentityConflict

DAY_S: Final = 86_400.0
#: A row's kind: an infusion of the initial series, a booster after it, or a session without an infusion
#: (stopped before the dose), which is not one of the course's infusions and carries no number.
SERIES: Final = "series"
BOOSTER: Final = "booster"
NO_INFUSION: Final = "no_infusion"
#: Quick events and interventions that count as nausea or vomiting.
NAUSEA_WORDS: Final = ("nausea", "vomit", "emesis")
_EVENT_KINDS: Final = (
    EventKind.BASELINE_STARTED, EventKind.INFUSION_STARTED, EventKind.INFUSION_STOPPED,
    EventKind.INFUSION_PAUSED, EventKind.INFUSION_RESUMED, EventKind.RECOVERY_STARTED,
    EventKind.SESSION_COMPLETED, EventKind.SCORE, EventKind.QUICK_EVENT, EventKind.INTERVENTION,
    EventKind.OUTCOME_SCORE, EventKind.DOSE_PLANNED, EventKind.RATE_CHANGED, EventKind.DISCHARGE_SCORED,
    EventKind.BASELINE_TAKEN,
)


class CourseError(Exception):
    """A course that cannot be shown (no such patient), with the reason."""


@dataclass(frozen=True, slots=True)
class CourseRow:
    """One session of a course, as the course view and its exports show it."""

    #: The infusion's place in the course (None: no infusion was given in this session).
    number: int | None
    kind: str  # "series", "booster" or "no_infusion"
    session_id: str
    started_at: float
    protocol: str
    #: The protocol's drug: a change of drug starts the series again.
    drug: str
    status: str
    dose_mg_per_kg: float | None
    dose_mg: float | None
    delivered_mg: float | None
    baseline_sys: float | None
    baseline_dia: float | None
    peak_sys: float | None
    peak_dia: float | None
    rise_sys_mmhg: float | None
    rise_sys_percent: float | None
    rise_dia_mmhg: float | None
    rise_dia_percent: float | None
    lowest_spo2: float | None
    alarms: Mapping[str, int]
    lowest_moaas: float | None
    highest_cadss: float | None
    nausea_vomiting: bool
    interventions: tuple[str, ...]
    recovery_to_discharge_min: float | None
    aldrete: int | None
    padss: int | None
    discharge_passed: bool | None
    phq9: int | None
    phq9_band: str | None
    gad7: int | None
    gad7_band: str | None
    #: The chair that recorded the session, where the course names it (an MRN held in conflict: which row is whose).
    chair: str | None = None
    #: The record (one identity of an MRN held in conflict, numbered as the warning numbers its versions) the
    #: session belongs to; None when the course is one person's.
    record: int | None = None

    @property
    def label(self) -> str:
        """The number as shown ("-" for a session without an infusion)."""
        return "-" if self.number is None else str(self.number)

    @property
    def which(self) -> str:
        """Which session the row is: its id, and of records in conflict its record and chair (which row is whose)."""
        if self.record is None:
            return self.session_id[:8]
        return f"record {self.record}: {self.chair or '-'}, {self.session_id[:8]}"

    def as_dict(self) -> dict[str, Any]:
        """Plain values (the JSON export's object for a session)."""
        out = asdict(self)
        out["alarms"] = dict(self.alarms)
        out["interventions"] = list(self.interventions)
        return out


@dataclass(frozen=True, slots=True)
class CoursePlan:
    """How many sessions the series has and how far apart they and the boosters are."""

    planned_sessions: int
    interval_days: float
    booster_interval_days: float
    note: str = ""
    #: True when the clinic set it for this patient (else the protocol's usual course).
    set_for_patient: bool = False


@dataclass(frozen=True, slots=True)
class CourseRecord:
    """One identity an MRN held in conflict carries on the server (a version of the warning), with its own sessions
    counted on their own: they may be another person's."""

    number: int
    name: str | None
    birth_date: str | None
    #: ``Chair 1 (session 1a2b3c4d)``: where the record is held, as the warning says it.
    where: str
    session_ids: tuple[str, ...]
    series_done: int
    boosters: int
    next_due_at: float | None

    def as_dict(self, *, deidentify: bool = False) -> dict[str, Any]:
        """Plain values (the JSON export's object for a record; de-identified: without name and birth date)."""
        out = asdict(self)
        out["session_ids"] = list(self.session_ids)
        out["next_due"] = out.pop("next_due_at")
        if deidentify:
            out["name"] = out["birth_date"] = None
        return out


@dataclass(frozen=True)
class Course:
    """A patient's course of treatment."""

    patient_id: str
    patient: Mapping[str, Any] | None
    plan: CoursePlan
    rows: tuple[CourseRow, ...]
    next_due_at: float | None
    generated_at: float = field(default_factory=time.time)
    #: What the reader must know before taking the rows as one person's: read from the clinic's server, an MRN
    #: that chairs hold with another name or birth date (the sessions of both records are in ``rows``).
    warnings: tuple[str, ...] = ()
    #: The MRN's records when the server holds it with different identities (empty: one person's course). Each
    #: record's sessions are numbered, counted and given their next due date on their own, never merged.
    records: tuple[CourseRecord, ...] = ()

    @property
    def in_conflict(self) -> bool:
        """Whether the rows are of records in conflict (maybe two people), not one person's."""
        return bool(self.records)

    @property
    def drug(self) -> str | None:
        """The drug of the treatment now (the newest session's; None: no session): what the series, the boosters
        and the next due date count."""
        return self.rows[-1].drug if self.rows else None

    @property
    def series_done(self) -> int:
        """Infusions of the initial series of the treatment now given (a session closed after its infusion started
        counts: the dose was given; one closed before it does not). Of records in conflict, see ``records``."""
        return series_done(self.rows)

    @property
    def boosters(self) -> int:
        """Infusions of the treatment now given after its initial series."""
        return boosters(self.rows)


def series_done(rows: Sequence[CourseRow]) -> int:
    """Infusions of the initial series of the treatment now (the newest row's drug) among ``rows``."""
    drug = rows[-1].drug if rows else None
    return sum(1 for r in rows if r.kind == SERIES and r.drug == drug)


def boosters(rows: Sequence[CourseRow]) -> int:
    """Infusions of the treatment now (the newest row's drug) given after its initial series among ``rows``."""
    drug = rows[-1].drug if rows else None
    return sum(1 for r in rows if r.kind == BOOSTER and r.drug == drug)


# -- finding the patient and the plan ---------------------------------------------------------------------


def patient_for_mrn(store: Reader, mrn: str) -> str:
    """The patient key of an MRN (CourseError when no patient has it)."""
    row = store.patient_key_for_mrn(mrn.strip())
    if row is None:
        raise CourseError(f"no patient with MRN '{mrn.strip()}'")
    return str(row[0])


def course_plan(store: Reader, patient_id: str, fallback: CourseDefaults | None = None) -> CoursePlan:
    """The patient's planned course, else the usual course of the treatment now: the newest session's protocol (a
    patient moved from IV ketamine to esketamine follows the esketamine plan from then on)."""
    row = store.course_plan_row(patient_id)
    if row is not None:
        return CoursePlan(row[0], row[1], row[2], row[3] or "", True)
    if fallback is None:
        sessions = store.course_sessions(patient_id)
        newest = sessions[-1].get("protocol") if sessions else None
        fallback = _protocol_of(newest).course
    return CoursePlan(fallback.planned_sessions, fallback.interval_days, fallback.booster_interval_days)


def _protocol_of(name: str | None) -> Protocol:
    """A session's protocol by the name it recorded (the default one for a name no longer known)."""
    try:
        return load_protocol(name or DEFAULT_PROTOCOL)
    except ProtocolError:
        return load_protocol(DEFAULT_PROTOCOL)


def set_course_plan(
    store: Store, patient_id: str, plan: CoursePlan, *, user: str | None
) -> None:
    """Set a patient's planned course (e.g. 8 sessions instead of 6), audited."""
    if not 1 <= plan.planned_sessions <= 50:
        raise CourseError("a series has 1 to 50 sessions")
    if not (plan.interval_days > 0 and plan.booster_interval_days > 0):
        raise CourseError("intervals are a positive number of days")
    store.set_course_plan(patient_id, plan.planned_sessions, plan.interval_days, plan.booster_interval_days,
                          plan.note, at=time.time(), user=user)
    store.audit("course_plan", user=user, patient_key=patient_id, planned_sessions=plan.planned_sessions,
                interval_days=plan.interval_days, booster_interval_days=plan.booster_interval_days)


# -- the figures ---------------------------------------------------------------------------------------------


def shows_nausea(kind: EventKind, detail: Mapping[str, Any], *, after_dosing: bool) -> bool:
    """Whether a timeline entry tells of nausea or vomiting in the session (the course's column).

    A quick event naming it does; so does a PADSS nausea/vomiting item scored 0 or 1 at discharge (2 is
    "minimal"). An antiemetic does once the drug was given (``after_dosing``): one given before it is prophylaxis,
    which many clinics give every patient, and would mark every session of the course as nauseous.
    """
    if kind is EventKind.QUICK_EVENT:
        text = f"{detail.get('event', '')} {detail.get('text', '')} {detail.get('label', '')}".lower()
        return any(word in text for word in NAUSEA_WORDS)
    if kind is EventKind.INTERVENTION:
        return after_dosing and detail.get("type") == InterventionKind.ANTIEMETIC.value
    if kind is EventKind.DISCHARGE_SCORED:
        return _padss_item(detail, "nausea_vomiting") in (0, 1)
    return False


def _padss_item(discharge: Mapping[str, Any], name: str) -> int | None:
    """The score the nurse gave one PADSS item at discharge (None: not scored or not stored)."""
    padss = discharge.get("padss")
    items = padss.get("items") if isinstance(padss, Mapping) else None
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and item.get("name") == name and isinstance(item.get("score"), int):
            return int(item["score"])
    return None


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


#: The events whose first occurrence is a moment of the session's timeline, and the field that keeps it.
_MOMENTS: Final[dict[EventKind, str]] = {
    EventKind.BASELINE_STARTED: "baseline_start",
    EventKind.INFUSION_STARTED: "infusion_start",
    EventKind.INFUSION_STOPPED: "infusion_stop",
    EventKind.RECOVERY_STARTED: "recovery_start",
    EventKind.SESSION_COMPLETED: "completed",
}


@dataclass
class _Timeline:
    """What the course needs from one session's events."""

    baseline_start: float | None = None
    infusion_start: float | None = None
    infusion_stop: float | None = None
    recovery_start: float | None = None
    completed: float | None = None
    baseline: dict[str, Any] | None = None
    plan: DosePlan | None = None
    rate_changes: list[RateChange] = field(default_factory=list)
    pauses: list[tuple[float, float]] = field(default_factory=list)
    paused_at: float | None = None
    moaas: list[float] = field(default_factory=list)
    cadss: list[float] = field(default_factory=list)
    nausea: bool = False
    interventions: list[str] = field(default_factory=list)
    discharge: dict[str, Any] | None = None
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @staticmethod
    def _add_score(figures: list[float], detail: Mapping[str, Any]) -> None:
        """One score's value (the standing one: :func:`course_rows` reads a score entered in error as corrected)."""
        value = _number(detail.get("value"))
        if value is not None:
            figures.append(value)

    def add(self, t: float, kind: EventKind, detail: dict[str, Any]) -> None:
        moment = _MOMENTS.get(kind)
        if moment is not None:
            if getattr(self, moment) is None:  # the first one counts (a resumed session repeats some)
                setattr(self, moment, t)
        elif kind is EventKind.BASELINE_TAKEN:
            self.baseline = detail
        elif kind is EventKind.INFUSION_PAUSED:
            self.paused_at = t
        elif kind is EventKind.INFUSION_RESUMED and self.paused_at is not None:
            self.pauses.append((self.paused_at, t))
            self.paused_at = None
        elif kind is EventKind.DOSE_PLANNED:
            self.plan = DosePlan.from_dict(detail)
        elif kind is EventKind.RATE_CHANGED:
            add_rate_change(self.rate_changes, t, detail)
        elif kind is EventKind.SCORE:
            scale = str(detail.get("scale", "")).upper()
            figures = self.moaas if scale == "MOAA/S" else self.cadss if scale in ("CADSS-6", "CADSS") else None
            if figures is not None:
                self._add_score(figures, detail)
        elif kind is EventKind.INTERVENTION:
            self.interventions.append(str(detail.get("text") or detail.get("type")))
        elif kind is EventKind.DISCHARGE_SCORED:
            self.discharge = detail
        if shows_nausea(kind, detail, after_dosing=self.infusion_start is not None):
            self.nausea = True
        elif kind is EventKind.OUTCOME_SCORE:
            self.outcomes[str(detail.get("scale"))] = detail

    @property
    def stopped(self) -> float | None:
        return self.infusion_stop if self.infusion_stop is not None else self.recovery_start

    def delivered(self, ended_at: float | None) -> float | None:
        if self.plan is None or self.infusion_start is None:
            return None
        rate = self.plan.rate_mg_per_h
        if rate is None:
            return self.plan.total_mg
        # A session that ended (closed) while the infusion ran: it ran until the record ends.
        end = self.stopped if self.stopped is not None else ended_at
        if end is None:
            return None
        pauses = list(self.pauses)
        if self.paused_at is not None:  # stopped while paused: the pump ran no more after the pause
            pauses.append((self.paused_at, end))
        return delivered_mg(self.infusion_start, end, rate, self.rate_changes, pauses)


def _score_total(detail: Mapping[str, Any] | None, key: str) -> int | None:
    if not detail:
        return None
    value = detail.get(key)
    if isinstance(value, Mapping) and value.get("total") is not None:
        return int(value["total"])
    return None


def course_rows(
    store: Reader, patient_id: str, plan: CoursePlan, only: Collection[str] | None = None
) -> list[CourseRow]:
    """Every session of a patient (of them, those in ``only``), oldest first, with its figures; the infusions
    numbered 1, 2, ... (a session without an infusion is shown unnumbered: the series counts infusions,
    CLINICAL.md "The course of treatment")."""
    sessions = store.course_sessions(patient_id)
    if only is not None:
        sessions = [row for row in sessions if str(row["id"]) in only]
    if not sessions:
        return []
    ids = [str(row["id"]) for row in sessions]
    entered: dict[str, list[SessionEvent]] = {sid: [] for sid in ids}
    for sid, t, kind, _user, detail in store.events_of_kinds(ids, _EVENT_KINDS):
        # The phase is not read here: the timeline's own events place the session's moments.
        entered[sid].append(SessionEvent(t, EventKind(kind), Phase.SETUP, None, json.loads(detail or "{}")))
    timelines: dict[str, _Timeline] = {sid: _Timeline() for sid in ids}
    for sid, events in entered.items():
        # Entries in error are read as corrected (a score's value, an intervention given, a quick event withdrawn).
        for e in standing_entries(events):
            timelines[sid].add(e.t, e.kind, dict(e.detail))
    alarm_counts: dict[str, dict[str, int]] = {sid: {p.label: 0 for p in reversed(Priority)} for sid in ids}
    for sid, by_word in store.alarm_counts(ids).items():
        for priority, n in by_word.items():
            try:
                label = Priority.parse(priority).label
            except ValueError:
                continue
            alarm_counts[sid][label] = alarm_counts[sid].get(label, 0) + n
    rows: list[CourseRow] = []
    newest = _protocol_of(sessions[-1].get("protocol")).drug
    infusions = 0
    drug_given: str | None = None
    for session in sessions:
        sid = str(session["id"])
        line = timelines[sid]
        protocol = _protocol_of(session.get("protocol"))
        number: int | None = None
        kind = NO_INFUSION
        if line.infusion_start is not None:
            # A change of drug (IV ketamine to esketamine, or back) is a new treatment: its series counts from 1.
            if protocol.drug != drug_given:
                infusions, drug_given = 0, protocol.drug
            infusions += 1
            number = infusions
            # An earlier treatment's run is judged by its own protocol's usual series; the one now by the plan.
            planned = plan.planned_sessions if protocol.drug == newest else protocol.course.planned_sessions
            kind = SERIES if number <= planned else BOOSTER
        # The review's phases: a reading at the completion time already belongs to "complete".
        peak_sys = peak_dia = lowest_spo2 = None
        if line.infusion_start is not None:
            peak_sys = store.reading_extreme(sid, Parameter.NIBP_SYS, True, line.infusion_start, line.completed)
            peak_dia = store.reading_extreme(sid, Parameter.NIBP_DIA, True, line.infusion_start, line.completed)
        if line.baseline_start is not None:
            lowest_spo2 = store.reading_extreme(sid, Parameter.SPO2, False, line.baseline_start, line.completed)
        base_sys = _number((line.baseline or {}).get("nibp_sys"))
        base_dia = _number((line.baseline or {}).get("nibp_dia"))
        rise_sys, rise_sys_pct = change_from(base_sys, _number(peak_sys))
        rise_dia, rise_dia_pct = change_from(base_dia, _number(peak_dia))
        stopped = line.stopped
        recovery_min = (
            round((line.completed - stopped) / 60.0, 1) if line.completed is not None and stopped is not None else None
        )
        phq, gad = line.outcomes.get("PHQ-9"), line.outcomes.get("GAD-7")
        rows.append(
            CourseRow(
                number=number,
                kind=kind,
                session_id=sid,
                started_at=float(session["started_at"]),
                protocol=session.get("protocol") or DEFAULT_PROTOCOL,
                drug=protocol.drug,
                status=store.status_of(session),
                # Per kilogram only where the dose is weighed (a fixed 56 mg spray read as 0.7 mg/kg beside IV's).
                dose_mg_per_kg=(None if line.plan is None or not weighed(protocol.dose)
                                else line.plan.dose_mg_per_kg),
                dose_mg=None if line.plan is None else line.plan.total_mg,
                # Not ended (unfinished): the pump ran as far as the stored data.
                delivered_mg=line.delivered(_number(session.get("ended_at")) or store.last_data_at(sid)),
                baseline_sys=base_sys,
                baseline_dia=base_dia,
                peak_sys=_number(peak_sys),
                peak_dia=_number(peak_dia),
                rise_sys_mmhg=rise_sys,
                rise_sys_percent=rise_sys_pct,
                rise_dia_mmhg=rise_dia,
                rise_dia_percent=rise_dia_pct,
                lowest_spo2=_number(lowest_spo2),
                alarms=alarm_counts[sid],
                lowest_moaas=min(line.moaas) if line.moaas else None,
                highest_cadss=max(line.cadss) if line.cadss else None,
                nausea_vomiting=line.nausea,
                interventions=tuple(line.interventions),
                recovery_to_discharge_min=recovery_min,
                aldrete=_score_total(line.discharge, "aldrete"),
                padss=_score_total(line.discharge, "padss"),
                discharge_passed=None if line.discharge is None else bool(line.discharge.get("passed")),
                phq9=None if phq is None else int(phq["total"]),
                phq9_band=None if phq is None else str(phq["band"]),
                gad7=None if gad is None else int(gad["total"]),
                gad7_band=None if gad is None else str(gad["band"]),
            )
        )
    return rows


def next_due(rows: Sequence[CourseRow], plan: CoursePlan) -> float | None:
    """When the next session is due: the series interval after the last infusion until the series is done, then
    the booster interval. Sessions without an infusion neither count nor move the date (the patient is then
    due the interval after the last infusion; before any infusion, after the last session)."""
    if not rows:
        return None
    # The treatment now (the newest session's drug): an earlier drug's infusions are another series.
    given = [r for r in rows if r.number is not None and r.drug == rows[-1].drug]
    last = given[-1].started_at if given else rows[-1].started_at
    days = plan.interval_days if len(given) < plan.planned_sessions else plan.booster_interval_days
    # Days on the clinic's calendar: across a daylight-saving change a day is 23 or 25 hours.
    wall = datetime.fromtimestamp(last).astimezone().replace(tzinfo=None) + timedelta(days=days)
    return wall.astimezone().timestamp()


def load_course(store: Reader, patient_id: str) -> Course:
    """A patient's whole course (CourseError for an unknown patient).

    Read from the server, an MRN the chairs hold with different names or birth dates is not one person's course:
    each identity's sessions are a record of their own, numbered, counted and given a next due date apart (if the
    two are one person, the record put right gives the whole count; merged, another person's infusions would count
    toward this patient's series and move their next date)."""
    patient = store.patient_row(patient_id)
    if patient is None:
        raise CourseError(f"no patient with key '{patient_id}'")
    plan = course_plan(store, patient_id)
    conflicts = _conflicts(store, patient)
    if not conflicts:
        rows = course_rows(store, patient_id, plan)
        return Course(patient_id, patient, plan, tuple(rows), next_due(rows, plan))
    records, rows = _records(store, patient_id, plan, conflicts[0])
    return Course(patient_id, patient, plan, tuple(rows), None,
                  warnings=tuple(conflict.warning for conflict in conflicts), records=tuple(records))


def _conflicts(store: Reader, patient: Mapping[str, Any]) -> list[IdentityConflict]:
    """What the course must say before it is read as one person's: on the server, where the MRN that joins the
    chairs' sessions is held with another name or birth date (a chair's own database refuses such an MRN when
    the patient is identified, so it has none)."""
    mrn = patient.get("mrn")
    if isinstance(store, Store) or not mrn:
        return []
    return store.identity_conflicts(str(mrn))


def _records(
    store: Reader, patient_id: str, plan: CoursePlan, conflict: IdentityConflict
) -> tuple[list[CourseRecord], list[CourseRow]]:
    """Each version of the conflict as a record with its own rows (numbered within it), and every row, oldest
    first, naming its chair and record. A session of the MRN in no version (attached since the conflict was read)
    is shown in no record, counted in none."""
    records: list[CourseRecord] = []
    rows: list[CourseRow] = []
    placed: set[str] = set()
    for number, version in enumerate(conflict.versions, 1):
        chair_of = {sid: held.chair_name or held.chair for held in version for sid in held.sessions}
        own = [replace(row, record=number, chair=chair_of[row.session_id])
               for row in course_rows(store, patient_id, plan, only=chair_of)]
        first = version[0]
        records.append(CourseRecord(
            number, first.name, first.birth_date, ", ".join(held.where for held in version),
            tuple(row.session_id for row in own), series_done(own), boosters(own), next_due(own, plan)))
        rows += own
        placed |= chair_of.keys()
    left = {str(row["id"]) for row in store.course_sessions(patient_id)} - placed
    if left:
        rows += course_rows(store, patient_id, plan, only=left)
    return records, sorted(rows, key=lambda row: row.started_at)


def load_course_by_mrn(store: Reader, mrn: str) -> Course:
    """A patient's course found by MRN."""
    return load_course(store, patient_for_mrn(store, mrn))


# -- exports -----------------------------------------------------------------------------------------------

#: CSV columns, in order (alarms spread into one column per priority).
CSV_COLUMNS: Final = (
    "number", "kind", "session_id", "started_at", "day", "protocol", "drug", "status", "dose_mg_per_kg", "dose_mg",
    "delivered_mg", "baseline_sys", "baseline_dia", "peak_sys", "peak_dia", "rise_sys_mmhg", "rise_sys_percent",
    "rise_dia_mmhg", "rise_dia_percent", "lowest_spo2", "alarms_high", "alarms_medium", "alarms_low",
    "lowest_moaas", "highest_cadss", "nausea_vomiting", "interventions", "recovery_to_discharge_min", "aldrete",
    "padss", "discharge_passed", "phq9", "phq9_band", "gad7", "gad7_band", "chair", "record",
)


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _due(at: float | None, deidentify: bool, first: float) -> str | float | None:
    """A next due date as the JSON gives it: a UTC time, or de-identified days from the first session."""
    if at is None:
        return None
    return round((at - first) / DAY_S, 2) if deidentify else _iso(at)


def course_dict(course: Course, *, deidentify: bool = False, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The course as plain values (the JSON export).

    De-identified: no patient identifiers, and session times as days from the first session.
    """
    first = course.rows[0].started_at if course.rows else 0.0
    sessions = []
    for row in course.rows:
        item = row.as_dict()
        if deidentify:
            item["started_at"] = None
            item["day"] = round((row.started_at - first) / DAY_S, 2)
        else:
            item["started_at"] = _iso(row.started_at)
        sessions.append(item)
    patient = None
    if course.patient and not deidentify:
        patient = {k: course.patient.get(k) for k in ("mrn", "name", "birth_date")}
        if course.in_conflict:  # not one person: each identity is in "records"
            patient["name"] = patient["birth_date"] = None
    conflict = course.in_conflict
    out: dict[str, Any] = {
        "patient": patient,
        "plan": {
            "planned_sessions": course.plan.planned_sessions,
            "interval_days": course.plan.interval_days,
            "booster_interval_days": course.plan.booster_interval_days,
            "set_for_patient": course.plan.set_for_patient,
        },
        "drug": course.drug,
        # Records in conflict are counted each on its own (in "records"), never together.
        "series_done": None if conflict else course.series_done,
        "boosters": None if conflict else course.boosters,
        "next_due": _due(course.next_due_at, deidentify, first),
        "sessions": sessions,
        "warnings": list(course.warnings),
        "records": [{**record.as_dict(deidentify=deidentify), "next_due": _due(record.next_due_at, deidentify, first)}
                    for record in course.records],
    }
    out.update(extra or {})
    return out


def csv_rows(course: Course) -> Iterable[list[Any]]:
    """Header and one row per session for the CSV export."""
    yield list(CSV_COLUMNS)
    first = course.rows[0].started_at if course.rows else 0.0
    for row in course.rows:
        item = row.as_dict()
        item["started_at"] = _iso(row.started_at)
        item["day"] = round((row.started_at - first) / DAY_S, 2)  # what a de-identified course keeps of time
        for label in ("high", "medium", "low"):
            item[f"alarms_{label}"] = row.alarms.get(label, 0)
        item["interventions"] = "; ".join(row.interventions)
        yield ["" if item.get(c) is None else item.get(c) for c in CSV_COLUMNS]

