"""The esketamine REMS Patient Monitoring Form, filled from the session where it can be.

Every field of the form is listed in :data:`FIELDS`. Fields the session knows - the dose and
lot, the time of the first spray, the minutes from first spray to the end of monitoring, the
blood pressure before dosing, at about 40 minutes and before discharge, the concomitant
medications from the checklist, sedation and dissociation from the scores - are filled from the
record; the rest (site, ready-to-leave time, whether vitals were acceptable) are asked for. Respiratory
depression is both: a yes from a respiratory check or from the nurse's answer stands. The answers are
stored as a ``rems_form`` event. A session under a REMS protocol
cannot complete while a field is empty (:func:`missing_fields`), and a form counts as submitted
only once someone marks it so (the REMS wants it within 7 days).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from drivers.core.readings import NIBP_PARAMETERS, Parameter, Reading
from monitor.checklist import MedicationFlag, current_checklist
from monitor.dose import dose_record
from monitor.entered_in_error import standing_entries
from monitor.protocols import (
    VITALS_SPO2_WITHIN_S,
    Protocol,
    check_states,
    respiratory_checks,
    respiratory_observations,
)
from monitor.session import EventKind, SessionEvent
from monitor.store import Reader, Store
from monitor.wall_clock import clock_text, moments_shown

#: Days the REMS allows between the session and the form's submission.
SUBMIT_WITHIN_DAYS: Final = 7

#: Every field of the form: key, label, and whether the session can know it ("session") or
#: staff must answer it ("asked"). Answers given by staff never replace what the session measured, except that a
#: yes to respiratory depression stands against checks without it (:func:`respiratory_depression`).
FIELDS: Final[tuple[tuple[str, str, str], ...]] = (
    ("patient", "Patient", "session"),
    ("session_date", "Date of treatment session", "session"),
    ("monitoring_provider", "Monitoring healthcare provider", "session"),
    ("site", "Treatment site", "asked"),
    ("dose_mg", "Dose (mg): 56, 84 or other", "session"),
    ("lot", "Lot number", "session"),
    ("first_spray_at", "Time of first spray", "session"),
    ("monitoring_minutes", "Minutes from first spray to end of monitoring", "session"),
    ("ready_to_leave_at", "Time the patient would have been ready to leave (without the 2-hour minimum)", "asked"),
    ("bp_before_dosing", "Blood pressure before dosing (mmHg)", "session"),
    ("bp_40_min", "Blood pressure about 40 minutes after dosing (mmHg)", "session"),
    ("bp_before_discharge", "Blood pressure before discharge (mmHg)", "session"),
    ("vitals_acceptable_before_dosing", "Vital signs acceptable before dosing", "asked"),
    ("vitals_acceptable_before_discharge", "Vital signs acceptable before discharge", "asked"),
    ("sedation", "Sedation observed", "session"),
    ("dissociation", "Dissociation observed", "session"),
    ("respiratory_depression", "Respiratory depression observed", "asked"),
    ("benzodiazepines", "Concomitant benzodiazepines", "session"),
    ("sedative_hypnotics", "Concomitant other sedative hypnotics", "session"),
    ("psychostimulants", "Concomitant psychostimulants", "session"),
    ("maois", "Concomitant MAOIs", "session"),
)
FIELD_KEYS: Final = tuple(key for key, _, _ in FIELDS)
ASKED_KEYS: Final = frozenset(key for key, _, origin in FIELDS if origin == "asked")
LABELS: Final = {key: label for key, label, _ in FIELDS}
_YES_NO_KEYS: Final = frozenset(
    {"vitals_acceptable_before_dosing", "vitals_acceptable_before_discharge", "respiratory_depression",
     "sedation", "dissociation", "benzodiazepines", "sedative_hypnotics", "psychostimulants", "maois"}
)
#: The form's concomitant-medication fields and the checklist flag that answers each.
_MEDICATION_FIELDS: Final = {
    "benzodiazepines": MedicationFlag.BENZODIAZEPINE, "sedative_hypnotics": MedicationFlag.SEDATIVE,
    "psychostimulants": MedicationFlag.STIMULANT, "maois": MedicationFlag.MAOI,
}
#: The form's three blood pressures, each answered by the protocol's timed check of the same id.
PRESSURE_KEYS: Final = ("bp_before_dosing", "bp_40_min", "bp_before_discharge")
#: Scores that show sedation / dissociation (any value below / above these).
MOAAS_AWAKE: Final = 5


class RemsAnswerError(ValueError):
    """An answer the form cannot take (unknown field, not yes/no, a time that is no time)."""


@dataclass(frozen=True, slots=True)
class RemsField:
    """One field of the form with its value and where the value came from."""

    key: str
    label: str
    value: Any
    #: "session" (from the record), "entered" (answered by staff) or "" (empty).
    origin: str
    #: Where the value came from in words, where the origin alone does not say it ("E at 16:01, 14/min",
    #: "recorded on the REMS form at 16:41").
    source: str = ""

    @property
    def filled(self) -> bool:
        """Whether the field has a value."""
        return self.value is not None and self.value != ""


@dataclass(frozen=True, slots=True)
class RemsForm:
    """The Patient Monitoring Form of one session."""

    session_id: str
    fields: tuple[RemsField, ...]
    submitted_at: float | None = None
    submitted_by: str | None = None
    reference: str | None = None
    #: What a reviewer must see beside the fields: a session discharged before the REMS minimum observation.
    notes: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        """Labels of the fields still empty."""
        return [f.label for f in self.fields if not f.filled]

    @property
    def complete(self) -> bool:
        """Every field filled."""
        return not self.missing()

    def value(self, key: str) -> Any:
        """A field's value by key."""
        for f in self.fields:
            if f.key == key:
                return f.value
        raise KeyError(key)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the JSON export."""
        return {
            "session_id": self.session_id,
            "complete": self.complete,
            "missing": self.missing(),
            "submitted_at": self.submitted_at,
            "submitted_by": self.submitted_by,
            "reference": self.reference,
            "notes": list(self.notes),
            "fields": {f.key: {"label": f.label, "value": f.value, "origin": f.origin, "source": f.source}
                       for f in self.fields},
        }


def check_answer(key: str, value: Any) -> Any:
    """A staff answer in the form's terms (yes/no fields become booleans)."""
    if key not in ASKED_KEYS and key not in FIELD_KEYS:
        raise RemsAnswerError(f"the form has no field '{key}'")
    if key in _YES_NO_KEYS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("y", "yes", "true", "1"):
            return True
        if text in ("n", "no", "false", "0"):
            return False
        raise RemsAnswerError(f"{LABELS[key]}: answer yes or no, not {value!r}")
    if key == "ready_to_leave_at":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RemsAnswerError(f"{LABELS[key]}: a time is needed")
        return float(value)
    text = str(value).strip()
    if not text:
        raise RemsAnswerError(f"{LABELS[key]}: the answer is empty")
    return text


def clock_times(hour: int, minute: int, since: float, until: float) -> list[float]:
    """The moments from ``since`` to ``until`` at which the clinic's clock read ``hour:minute``, oldest first: none,
    one, or two on the night the clocks go back (the hour that comes twice), never a time the clocks skipped."""
    found: set[float] = set()
    day = datetime.fromtimestamp(since).date()
    last = datetime.fromtimestamp(until).date()
    while day <= last:
        shown = moments_shown(datetime(day.year, day.month, day.day, hour, minute))
        found.update(t for t in shown if since <= t <= until)
        day += timedelta(days=1)
    return sorted(found)


def answers(events: Iterable[SessionEvent]) -> dict[str, Any]:
    """Staff answers recorded on a timeline; a later answer to the same field wins."""
    out: dict[str, Any] = {}
    for e in sorted(events, key=lambda e: e.t):
        if e.kind is EventKind.REMS_FORM:
            out.update(dict(e.detail.get("answers") or {}))
    return out


def _bp_text(value: tuple[float, float] | None) -> str | None:
    return None if value is None else f"{value[0]:.0f}/{value[1]:.0f}"


def _scores(events: Sequence[SessionEvent], scales: set[str]) -> list[float]:
    out = []
    for e in standing_entries(events):
        if e.kind is EventKind.SCORE and str(e.detail.get("scale", "")).upper() in scales:
            try:
                out.append(float(e.detail["value"]))
            except (KeyError, TypeError, ValueError):
                continue
    return out


def build_form(
    protocol: Protocol,
    session: Mapping[str, Any],
    patient: Mapping[str, Any] | None,
    events: Sequence[SessionEvent],
    readings: Sequence[Reading],
    now: float,
    submission: Mapping[str, Any] | None = None,
) -> RemsForm:
    """The form of one session as the record and the staff's answers fill it."""
    known: dict[str, Any] = dict.fromkeys(FIELD_KEYS)
    if patient:
        known["patient"] = patient.get("name") or patient.get("mrn")
    known["session_date"] = time.strftime("%Y-%m-%d", time.localtime(float(session["started_at"])))  # the clinic's date
    known["monitoring_provider"] = session.get("nurse") or None
    dose = dose_record(events, now)
    if dose.plan is not None:
        known["dose_mg"] = dose.plan.total_mg
        known["lot"] = dose.plan.lot
    completion = next((e for e in events if e.kind is EventKind.SESSION_COMPLETED), None)
    completed = None if completion is None else completion.t
    notes: list[str] = []
    if dose.started_at is not None:
        known["first_spray_at"] = dose.started_at
        end = completed if completed is not None else now
        known["monitoring_minutes"] = round((end - dose.started_at) / 60.0, 1)
        minimum = protocol.discharge.minimum_observation_min
        if completion is not None and known["monitoring_minutes"] < minimum:
            # A blocker overridden with a reason at the chair: the REMS minimum was not kept, which the form's
            # minutes alone do not say.
            reason = str(completion.detail.get("override_reason") or "").strip()
            notes.append(f"Discharged {known['monitoring_minutes']:g} min after the first spray, before the "
                         f"{minimum:g}-minute minimum observation" + (f" (reason given: {reason})" if reason else ""))
    for key, (value, _taken_at) in recorded_pressures(protocol, events, readings, now, dose.started_at).items():
        known[key] = value
    moaas = _scores(events, {"MOAA/S"})
    rass = _scores(events, {"RASS"})
    if moaas or rass:
        known["sedation"] = any(v < MOAAS_AWAKE for v in moaas) or any(v < 0 for v in rass)
    cadss = _scores(events, {"CADSS-6", "CADSS"})
    if cadss:
        known["dissociation"] = any(v > 0 for v in cadss)
    known.update(_medications_known(events))
    given = answers(events)
    fields = []
    for key, label, _origin in FIELDS:
        value = known.get(key)
        if key == "respiratory_depression":
            fields.append(RemsField(key, label, *respiratory_depression(events)))
        elif value is not None and value != "":
            fields.append(RemsField(key, label, value, "session"))
        elif key in given and given[key] not in (None, ""):
            fields.append(RemsField(key, label, given[key], "entered"))
        else:
            fields.append(RemsField(key, label, None, ""))
    sub = submission or {}
    return RemsForm(
        session_id=str(session["id"]),
        fields=tuple(fields),
        submitted_at=sub.get("submitted_at"),
        submitted_by=sub.get("submitted_by"),
        reference=sub.get("reference"),
        notes=tuple(notes),
    )


class FormReadings:
    """The readings a REMS form's blood pressures are judged from, kept as a session's readings arrive (the live
    window keeps these, not every reading): each cuff, and the reliable SpO2 values within
    :data:`~monitor.protocols.VITALS_SPO2_WITHIN_S` of one, which a protocol that asks for "vitals" (a cuff with
    SpO2 beside it) needs. Before, the window kept the cuffs alone, and such a protocol's pressures read as absent."""

    def __init__(self) -> None:
        #: The session's blood-pressure readings (a few a cuff), in the order they came.
        self.cuffs: list[Reading] = []
        self._spo2: list[Reading] = []
        self._recent: deque[Reading] = deque()  # reliable SpO2 of the last VITALS_SPO2_WITHIN_S, before any cuff
        self._keep_until = float("-inf")

    def add(self, readings: Iterable[Reading]) -> None:
        """Take in readings as they arrive."""
        for reading in readings:
            if reading.parameter in NIBP_PARAMETERS:
                self.cuffs.append(reading)
                self._spo2.extend(r for r in self._recent if r.t >= reading.t - VITALS_SPO2_WITHIN_S)
                self._recent.clear()
                self._keep_until = max(self._keep_until, reading.t + VITALS_SPO2_WITHIN_S)
            elif reading.parameter is Parameter.SPO2 and reading.reliable:
                if reading.t <= self._keep_until:
                    self._spo2.append(reading)
                    continue
                self._recent.append(reading)
                while self._recent and self._recent[0].t < reading.t - VITALS_SPO2_WITHIN_S:
                    self._recent.popleft()

    def readings(self) -> list[Reading]:
        """What the form's checks read, by time."""
        return sorted([*self.cuffs, *self._spo2], key=lambda r: r.t)


def recorded_pressures(protocol: Protocol, events: Sequence[SessionEvent], readings: Sequence[Reading], now: float,
                       first_spray_at: float | None) -> dict[str, tuple[str | None, float | None]]:
    """The form's three blood pressures as the record answers them: per field, the pressure as the form writes it
    ("128/82") and when that cuff was taken (None, None where the record has none)."""
    states = {s.check.id: s for s in check_states(protocol, events, readings, now)}
    at_40 = states.get("bp_40_min")
    out: dict[str, tuple[str | None, float | None]] = {}
    for key in PRESSURE_KEYS:
        state = states.get(key)
        taken_at = None if state is None else state.done_at
        if key == "bp_before_discharge" and taken_at is not None and (
            first_spray_at is None or taken_at < first_spray_at
            or (at_40 is not None and taken_at == at_40.done_at)
        ):
            # A cuff from before the first spray is the pre-dose pressure, never the one before discharge (a
            # session closed during dosing looks back from the record's end); and the 40-minute cuff is never
            # also the one before discharge (a session ended within 15 minutes of it): the form asks for three.
            out[key] = (None, None)
            continue
        value = _bp_text(state.value) if state is not None else None
        out[key] = (value, taken_at if value is not None else None)
    return out


def respiratory_depression(events: Sequence[SessionEvent]) -> tuple[bool | None, str, str]:
    """The form's "respiratory depression observed" as value, origin and where it came from. A yes stands whichever
    side gave it - a respiratory check (E) or the nurse's answer on the form - and is never undone by a check
    without it (before, any check at all filled the field from the record, and a nurse's later yes was dropped)."""
    checks = respiratory_checks(events)
    seen = [e for e in checks if e.detail.get("depression") is True]
    if seen:
        return True, "session", _check_source(seen[0])
    given = answers(events).get("respiratory_depression")
    if given is True:
        turned = [e for e in respiratory_observations(events) if e.kind is EventKind.REMS_FORM]
        when = f" at {clock_text(turned[-1].t, '%H:%M')}" if turned else ""
        return True, "entered", f"recorded on the REMS form{when}"
    if checks:
        return False, "session", _check_source(checks[-1])
    if given is False:
        return False, "entered", "answered on the REMS form"
    return None, "", ""


def _check_source(check: SessionEvent) -> str:
    """A respiratory check as the form names it: ``E at 16:01, 14/min``."""
    return f"E at {clock_text(check.t, '%H:%M')}, {check.detail.get('value')}/min"


def record_text(field: RemsField) -> str:
    """What the record holds for a field, for the nurse answering the form: ``record: no (E at 16:01, 14/min)``;
    empty where it holds nothing."""
    if not field.filled:
        return ""
    value = ("yes" if field.value else "no") if isinstance(field.value, bool) else str(field.value)
    return f"record: {value}" + (f" ({field.source})" if field.source else "")


def recorded_answers(events: Sequence[SessionEvent], protocol: Protocol | None = None,
                     cuffs: Sequence[Reading] = (), now: float | None = None) -> dict[str, str]:
    """What the record holds for the fields the form asks, as :func:`record_text` words them: respiratory
    depression and the concomitant medications from the timeline; the blood pressures too where the ``protocol``,
    the session's ``cuffs`` (its blood-pressure readings, with the SpO2 beside them: :class:`FormReadings`) and the
    session's time ``now`` are given."""
    out = {}
    value, origin, source = respiratory_depression(events)
    if origin == "session":
        out["respiratory_depression"] = record_text(RemsField("respiratory_depression", "", value, origin, source))
    for key, taken in _medications_known(events).items():
        out[key] = record_text(RemsField(key, "", taken, "session", "checklist"))
    if protocol is not None and now is not None:
        first_spray_at = dose_record(events, now).started_at
        for key, (pressure, taken_at) in recorded_pressures(protocol, events, cuffs, now, first_spray_at).items():
            if pressure is not None and taken_at is not None:
                source = f"cuff at {clock_text(taken_at, '%H:%M')}"
                out[key] = record_text(RemsField(key, "", pressure, "session", source))
    return out


def _medications_known(events: Sequence[SessionEvent]) -> dict[str, bool]:
    """The form's concomitant-medication fields as the checklist answers them (none before its medications are
    recorded)."""
    checklist = current_checklist(events)
    if checklist is None or checklist.medications is None:
        return {}
    flagged = checklist.flagged()
    return {key: flag in flagged for key, flag in _MEDICATION_FIELDS.items()}


def completion_refusal(form: RemsForm) -> str | None:
    """Why the session may not complete while the form has empty fields (None: the form is full)."""
    missing = form.missing()
    return ("the REMS Patient Monitoring Form is incomplete: " + "; ".join(missing)) if missing else None


# -- submission -----------------------------------------------------------------------------------------


def submission(store: Reader, session_id: str) -> dict[str, Any] | None:
    """When and by whom the form of a session was marked submitted (None: not yet); read from the clinic's server, as
    marked at its chair."""
    return store.rems_submission(session_id)


def mark_submitted(
    store: Store, form: RemsForm, *, user: str, reference: str | None = None, at: float | None = None,
    incomplete_reason: str | None = None,
) -> None:
    """Record that the session's form was submitted to the REMS (audited). Refused for a session still recording, a
    second time, and for a form with empty fields unless ``incomplete_reason`` says why (a session closed without
    discharge, the rest filled in on the worksheet): the reason and the fields empty in the record are audited."""
    if not user.strip():
        raise RemsAnswerError("say who submitted the form")
    row = store.session_row(form.session_id)
    if store.status_of(row) == "recording":
        raise RemsAnswerError(f"session {row['id'][:8]} is still recording: its form is submitted once it has ended")
    if submission(store, row["id"]) is not None:
        raise RemsAnswerError("this session's form is already marked submitted")
    missing = form.missing()
    reason = (incomplete_reason or "").strip()
    if missing and not reason:
        raise RemsAnswerError(
            f"session {row['id'][:8]}: the form has {len(missing)} empty field{'s' if len(missing) != 1 else ''} in "
            f"the record ({'; '.join(missing)}); mark it submitted only with the reason it went incomplete, or as "
            "filled in on its worksheet (--incomplete-because TEXT)")
    when = time.time() if at is None else at
    store.add_rems_submission(row["id"], when, user, reference)
    detail: dict[str, Any] = {"reference": reference, "submitted_at": when}
    if missing:
        detail.update(empty_in_record=missing, incomplete_because=reason)
    store.audit("rems_form_submitted", user=user, session_id=row["id"], **detail)


@dataclass(frozen=True, slots=True)
class PendingForm:
    """A REMS session whose form is not yet marked submitted."""

    session_id: str
    started_at: float
    patient_mrn: str | None
    due_by: float

    def overdue(self, now: float) -> bool:
        """Past the 7 days the REMS allows."""
        return now > self.due_by


def submission_due(started_at: float) -> float:
    """When the form of a session begun at ``started_at`` is due: the same time of day :data:`SUBMIT_WITHIN_DAYS`
    later on the clinic's calendar (across a daylight-saving change a day is 23 or 25 hours: 7 x 24 hours fell an
    hour off the seventh day's time, as the course's due date does not)."""
    wall = datetime.fromtimestamp(started_at).astimezone().replace(tzinfo=None) + timedelta(days=SUBMIT_WITHIN_DAYS)
    return wall.astimezone().timestamp()


def pending_forms(store: Reader, protocol_names: Iterable[str]) -> list[PendingForm]:
    """Sessions under a REMS protocol whose form is not yet marked submitted, oldest first (read from the clinic's
    server: every chair's)."""
    names = list(protocol_names)
    if not names:
        return []
    rows = store.sessions_without_rems_submission(names)
    out = []
    for sid, t, patient_id in rows:
        patient = store.patient_row(patient_id)  # identifiers are stored encrypted
        mrn = patient.get("mrn") if patient else None
        out.append(PendingForm(sid, float(t), mrn, submission_due(float(t))))
    return out
