"""Treatment protocols as data: a session follows a protocol read from a commented TOML file.

A protocol says what a session of one treatment needs: its phases with their planned, minimum
and maximum lengths, the cuff cycle, timed vital-sign checks (e.g. blood pressure before
dosing and about 40 minutes after), the minimum observation and discharge numbers, the scores
due, the pre-infusion checklist items that are required, the dose range, the course plan, and
whether the esketamine REMS Patient Monitoring Form applies. Two protocols ship as package
data (``ketamine-iv`` and ``esketamine-nasal``); a clinic copies one, changes it, and names the
file (or puts it in the protocols folder) with ``--protocol``. A file that cannot be used raises
:class:`ProtocolError` naming the file, the line and the field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from drivers.core.clock import SECONDS_PER_MINUTE
from drivers.core.readings import Parameter, Reading
from monitor.checklist import ChecklistItem, ChecklistRules
from monitor.config import ENV_PREFIX, config_dir
from monitor.discharge import ALDRETE_PASS, PADSS_PASS, DischargeMarks
from monitor.dose import DoseRange, DoseUnit
from monitor.entered_in_error import standing_entries
from monitor.plan import MAX_PHASE_MINUTES, SessionPlan
from monitor.readiness import DISCHARGE_NIBP_MAX_AGE_S, CareRules
from monitor.session import EventKind, NibpSchedule, Phase, SessionEvent
from monitor.toml_lines import TomlLines, load_toml, read_clinic_file

DEFAULT_PROTOCOL: Final = "ketamine-iv"
SHIPPED: Final = ("ketamine-iv", "esketamine-nasal")
PLANNED_PHASES: Final = (Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY)
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class ProtocolError(ValueError):
    """A protocol that cannot be used; the message names the file, line and field."""


class Measure(StrEnum):
    """What a timed check asks for."""

    NIBP = "nibp"
    SPO2 = "spo2"
    VITALS = "vitals"
    SEDATION = "sedation"
    DISSOCIATION = "dissociation"
    RESPIRATION = "respiration"


class Anchor(StrEnum):
    """The moment a timed check is counted from."""

    INFUSION_START = "infusion_start"
    INFUSION_STOP = "infusion_stop"
    RECOVERY_START = "recovery_start"
    #: Checked when the session completes: it must have been done shortly before.
    DISCHARGE = "discharge"


class ScoreMoment(StrEnum):
    """When a score is due."""

    BEFORE_INFUSION = "before_infusion"
    WITH_EACH_NIBP_DURING_INFUSION = "with_each_nibp_during_infusion"
    INFUSION_END = "infusion_end"
    BEFORE_DISCHARGE = "before_discharge"


#: The score scales a nurse or a patient can enter at the chair (a protocol may ask only for these).
RECORDED_SCALES: Final = ("PHQ-9", "GAD-7", "MOAA/S", "RASS", "CADSS-6", "CADSS")


def _scale_key(name: str) -> str:
    """A scale's name as compared (as :func:`monitor.chair.scale_key`): ``CADSS-6`` and ``cadss 6`` are one."""
    return name.replace("-", "").replace(" ", "").upper()


#: The respiratory check recorded at the chair (a ``measure = "respiration"`` check, where the device gives no
#: respiratory rate): a score of this scale whose value is the breaths counted in a minute and whose ``depression``
#: says whether respiratory depression was seen (CLINICAL.md; the REMS form's answer).
RESPIRATION_SCALE: Final = "respiration"

#: Score scales that answer each kind of timed check.
SCALES_FOR: Final[Mapping[Measure, frozenset[str]]] = {
    Measure.SEDATION: frozenset({"MOAA/S", "RASS"}),
    Measure.DISSOCIATION: frozenset({"CADSS-6", "CADSS"}),
    Measure.RESPIRATION: frozenset({RESPIRATION_SCALE, "RR"}),
}


def respiratory_checks(events: Iterable[SessionEvent], since: float | None = None) -> list[SessionEvent]:
    """The respiratory checks recorded at the chair (:data:`RESPIRATION_SCALE`), oldest first; with ``since``, those
    from then on."""
    key = _scale_key(RESPIRATION_SCALE)
    return sorted((e for e in standing_entries(events) if e.kind is EventKind.SCORE
                   and _scale_key(str(e.detail.get("scale", ""))) == key
                   and (since is None or e.t >= since)), key=lambda e: e.t)


def depression_observed(event: SessionEvent) -> bool:
    """Whether a respiratory observation (a check with **E**, or a REMS form answer) says depression was seen."""
    if event.kind is EventKind.REMS_FORM:
        return (event.detail.get("answers") or {}).get("respiratory_depression") is True
    return event.detail.get("depression") is True


def respiratory_observations(events: Iterable[SessionEvent], since: float | None = None) -> list[SessionEvent]:
    """Every observation of the patient's breathing, oldest first: the respiratory checks, and each REMS form entry
    that turns the form's "respiratory depression observed" to yes (the nurse saw it, though no check says so).
    A form sent again with the same yes is no new observation: it would hold discharge again after a later check
    found the breathing recovered. With ``since``, those from then on."""
    listed = standing_entries(events)
    turned_yes: list[SessionEvent] = []
    before = False
    for e in sorted((e for e in listed if e.kind is EventKind.REMS_FORM), key=lambda e: e.t):
        if "respiratory_depression" not in (e.detail.get("answers") or {}):
            continue
        now_yes = depression_observed(e)
        if now_yes and not before and (since is None or e.t >= since):
            turned_yes.append(e)
        before = now_yes
    return sorted([*respiratory_checks(listed, since), *turned_yes], key=lambda e: e.t)


@dataclass(frozen=True, slots=True)
class PhaseRule:
    """Planned, minimum and maximum minutes of one phase, and what the screen calls it."""

    phase: Phase
    label: str
    planned_min: float
    min_min: float | None = None
    max_min: float | None = None

    def bounds_text(self) -> str:
        """The allowed length in words for a header: ``40–60 min``, ``at most 20 min``, ``at least 30 min``."""
        low, high = self.min_min or 0.0, self.max_min
        if high is not None and low:
            return f"{low:g}–{high:g} min"
        if high is not None:
            return f"at most {high:g} min"
        return f"at least {low:g} min" if low else ""


@dataclass(frozen=True, slots=True)
class TimedCheck:
    """A vital sign or observation due at a set time: ``at_min`` after ``anchor``.

    It counts as done when one was taken from ``before_min`` before to ``after_min`` after the
    due time; once the due time plus ``after_min`` has passed without one, it is missed.
    """

    id: str
    label: str
    measure: Measure
    anchor: Anchor
    at_min: float = 0.0
    before_min: float = 0.0
    after_min: float = 0.0


@dataclass(frozen=True, slots=True)
class ScoreDue:
    """A nursing or outcome score the protocol asks for."""

    scale: str
    when: ScoreMoment
    required: bool = False


@dataclass(frozen=True, slots=True)
class DischargeNumbers:
    """The protocol's numbers for discharge readiness."""

    minimum_observation_min: float
    observation_from: Anchor
    #: Pass marks; their defaults are the ones discharge scoring applies (monitor.discharge).
    aldrete_min: int = ALDRETE_PASS
    padss_min: int = PADSS_PASS
    #: Replaces the profile's ``[discharge] nibp_max_age_s`` for the protocol's sessions (same default).
    vitals_max_age_min: float = DISCHARGE_NIBP_MAX_AGE_S / SECONDS_PER_MINUTE
    escort_required: bool = True
    no_active_high_alarm: bool = True

    @property
    def marks(self) -> DischargeMarks:
        """What discharge scoring applies for this protocol: its pass marks and escort rule."""
        return DischargeMarks(self.aldrete_min, self.padss_min, self.escort_required)


@dataclass(frozen=True, slots=True)
class CourseDefaults:
    """The usual course: how many sessions, how many days apart, boosters after."""

    planned_sessions: int
    interval_days: float
    booster_interval_days: float


@dataclass(frozen=True)
class Protocol:
    """Everything a session takes from its protocol."""

    name: str
    title: str
    description: str
    drug: str
    route: str
    rems: bool
    phases: Mapping[Phase, PhaseRule]
    cuff: NibpSchedule
    checks: tuple[TimedCheck, ...]
    scores: tuple[ScoreDue, ...]
    checklist: ChecklistRules
    dose: DoseRange
    discharge: DischargeNumbers
    course: CourseDefaults
    source: str = ""
    sha256: str = ""

    def plan(self) -> SessionPlan:
        """The planned phase lengths as the session runs them."""
        return SessionPlan(
            baseline_min=self.phases[Phase.BASELINE].planned_min,
            infusion_min=self.phases[Phase.INFUSION].planned_min,
            recovery_min=self.phases[Phase.RECOVERY].planned_min,
        )

    def label(self, phase: Phase) -> str:
        """What this protocol calls a phase (e.g. ``dosing`` for the infusion of a nasal spray)."""
        rule = self.phases.get(phase)
        return rule.label if rule is not None else phase.value

    def labels(self) -> dict[Phase, str]:
        """What this protocol calls each phase."""
        return {phase: self.label(phase) for phase in Phase}

    def care_rules(self, profile_rules: CareRules) -> CareRules:
        """The readiness rules of this protocol's sessions: the alarm profile's, with the protocol's numbers.

        Where both give a number, the protocol's wins: its baseline ``min_min`` replaces the profile's
        ``[baseline] min_duration_s`` and its discharge ``vitals_max_age_min`` the profile's
        ``[discharge] nibp_max_age_s``, and its ``no_active_high_alarm`` says whether an active high
        alarm stops completion; the rest (hold thresholds, SpO2 age) stays the profile's. The blockers name
        the phases as the protocol does.
        """
        baseline_min = self.phases[Phase.BASELINE].min_min
        return dataclasses.replace(
            profile_rules,
            baseline_min_s=profile_rules.baseline_min_s if baseline_min is None else baseline_min * SECONDS_PER_MINUTE,
            discharge_nibp_max_age_s=self.discharge.vitals_max_age_min * SECONDS_PER_MINUTE,
            high_alarm_blocks_discharge=self.discharge.no_active_high_alarm,
            phase_words=self.labels(),
        )

    def check(self, check_id: str) -> TimedCheck:
        """A timed check by id (KeyError when the protocol has none of that id)."""
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(check_id)


# -- reading a file ----------------------------------------------------------------------------------

_TOP_KEYS: Final = frozenset(
    {"protocol", "phases", "cuff", "checks", "scores", "checklist", "dose", "discharge", "course"}
)


def _error(text: str) -> Exception:
    return ProtocolError(text)


class _Reader:
    """Typed access to the parsed TOML with errors that name the line and field."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = TomlLines(text, source, _error)

    def fail(self, path: str, problem: str) -> ProtocolError:
        error = self.lines.error(path, problem)
        assert isinstance(error, ProtocolError)
        return error

    def table(self, value: Any, path: str, allowed: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a table, got {value!r}")
        allowed_set = frozenset(allowed)
        for key in value:
            if key not in allowed_set:
                where = f"{path}.{key}" if path else key
                raise self.fail(where, f"unknown field; expected one of {', '.join(sorted(allowed_set))}")
        return value

    def required(self, table: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in table:
            raise self.fail(f"{path}.{key}", "missing")
        return table[key]

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected text in quotes, got {value!r}")
        return value

    def flag(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"expected true or false, got {value!r}")
        return value

    def number(self, value: Any, path: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"expected a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number) or not low <= number <= high:
            raise self.fail(path, f"{value!r} is outside the allowed range {low:g} to {high:g}")
        return number

    def whole(self, value: Any, path: str, low: int, high: int) -> int:
        number = self.number(value, path, low, high)
        if not number.is_integer():
            raise self.fail(path, f"expected a whole number, got {value!r}")
        return int(number)

    def choice(self, value: Any, path: str, enum: type[StrEnum]) -> Any:
        options = ", ".join(e.value for e in enum)
        if not isinstance(value, str):
            raise self.fail(path, f"expected one of {options}, got {value!r}")
        try:
            return enum(value)
        except ValueError:
            raise self.fail(path, f"'{value}' is not one of {options}") from None


def _phases(r: _Reader, raw: Any) -> dict[Phase, PhaseRule]:
    table = r.table(raw, "phases", [p.value for p in PLANNED_PHASES])
    out = {}
    for phase in PLANNED_PHASES:
        path = f"phases.{phase.value}"
        entry = r.table(r.required(table, phase.value, "phases"), path, ("label", "planned_min", "min_min", "max_min"))
        label = r.text(entry.get("label", phase.value), f"{path}.label")
        planned = r.number(r.required(entry, "planned_min", path), f"{path}.planned_min", 0.5, MAX_PHASE_MINUTES)
        low = r.number(entry["min_min"], f"{path}.min_min", 0, MAX_PHASE_MINUTES) if "min_min" in entry else None
        high = r.number(entry["max_min"], f"{path}.max_min", 0.5, MAX_PHASE_MINUTES) if "max_min" in entry else None
        if low is not None and high is not None and low > high:
            raise r.fail(f"{path}.max_min", f"the maximum ({high:g}) is below the minimum ({low:g})")
        if low is not None and planned < low:
            raise r.fail(f"{path}.planned_min", f"the plan ({planned:g} min) is shorter than the minimum ({low:g})")
        if high is not None and planned > high:
            raise r.fail(f"{path}.planned_min", f"the plan ({planned:g} min) is longer than the maximum ({high:g})")
        out[phase] = PhaseRule(phase, label, planned, low, high)
    return out


def _cuff(r: _Reader, raw: Any) -> NibpSchedule:
    keys = [f"{p.value}_min" for p in PLANNED_PHASES]
    table = r.table(raw, "cuff", keys)
    values: dict[str, float | None] = {}
    for phase in PLANNED_PHASES:
        key = f"{phase.value}_min"
        minutes = r.number(r.required(table, key, "cuff"), f"cuff.{key}", 0, 30)
        if 0 < minutes < 1:
            raise r.fail(f"cuff.{key}", "a cuff cycle is 1 to 30 minutes (0: no automatic cuff)")
        values[f"{phase.value}_s"] = minutes * 60.0 if minutes else None
    return NibpSchedule(**values)


def _checks(r: _Reader, raw: Any) -> tuple[TimedCheck, ...]:
    if not isinstance(raw, list):
        raise r.fail("checks", "expected [[checks]] entries")
    out: list[TimedCheck] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        path = f"checks.{index}"
        entry = r.table(item, path, ("id", "label", "measure", "anchor", "at_min", "before_min", "after_min"))
        check_id = r.text(r.required(entry, "id", path), f"{path}.id")
        if not _NAME.match(check_id):
            raise r.fail(f"{path}.id", "an id is lower-case letters, digits, - and _")
        if check_id in seen:
            raise r.fail(f"{path}.id", f"'{check_id}' is used twice")
        seen.add(check_id)
        anchor = r.choice(r.required(entry, "anchor", path), f"{path}.anchor", Anchor)
        at = r.number(entry.get("at_min", 0), f"{path}.at_min", 0, MAX_PHASE_MINUTES)
        before = r.number(entry.get("before_min", 0), f"{path}.before_min", 0, MAX_PHASE_MINUTES)
        after = r.number(entry.get("after_min", 0), f"{path}.after_min", 0, MAX_PHASE_MINUTES)
        if anchor is Anchor.DISCHARGE and (at or after):
            raise r.fail(f"{path}.anchor", "a discharge check is taken before discharge: use before_min only")
        if before == 0 and after == 0:
            raise r.fail(f"{path}.after_min", "give the window: before_min and/or after_min")
        out.append(
            TimedCheck(
                id=check_id,
                label=r.text(entry.get("label", check_id), f"{path}.label"),
                measure=r.choice(r.required(entry, "measure", path), f"{path}.measure", Measure),
                anchor=anchor,
                at_min=at,
                before_min=before,
                after_min=after,
            )
        )
    return tuple(out)


def _scores(r: _Reader, raw: Any) -> tuple[ScoreDue, ...]:
    if not isinstance(raw, list):
        raise r.fail("scores", "expected [[scores]] entries")
    out = []
    for index, item in enumerate(raw):
        path = f"scores.{index}"
        entry = r.table(item, path, ("scale", "when", "required"))
        scale = r.text(r.required(entry, "scale", path), f"{path}.scale").strip()
        if not scale:
            raise r.fail(f"{path}.scale", "name the scale, e.g. PHQ-9")
        if _scale_key(scale) not in {_scale_key(known) for known in RECORDED_SCALES}:
            raise r.fail(f"{path}.scale", f"'{scale}' is not a score the monitor records; use "
                         f"{', '.join(RECORDED_SCALES)}")
        when = r.choice(r.required(entry, "when", path), f"{path}.when", ScoreMoment)
        out.append(ScoreDue(scale, when, r.flag(entry.get("required", False), f"{path}.required")))
    return tuple(out)


def _checklist(r: _Reader, raw: Any) -> ChecklistRules:
    table = r.table(raw, "checklist", ("required", "fasting_min_hours"))
    required_raw = r.required(table, "required", "checklist")
    if not isinstance(required_raw, list):
        raise r.fail("checklist.required", "expected a list, e.g. [\"consent\", \"escort\"]")
    items = set()
    for value in required_raw:
        items.add(r.choice(value, "checklist.required", ChecklistItem))
    fasting = (
        r.number(table["fasting_min_hours"], "checklist.fasting_min_hours", 0, 24)
        if "fasting_min_hours" in table
        else None
    )
    return ChecklistRules(frozenset(items), fasting)


def _dose(r: _Reader, raw: Any) -> DoseRange:
    table = r.table(raw, "dose", ("unit", "default", "min", "max", "allowed", "infused", "default_duration_min"))
    unit = r.choice(r.required(table, "unit", "dose"), "dose.unit", DoseUnit)
    ceiling = 10.0 if unit is DoseUnit.MG_PER_KG else 1000.0
    low = r.number(r.required(table, "min", "dose"), "dose.min", 0, ceiling)
    high = r.number(r.required(table, "max", "dose"), "dose.max", 0, ceiling)
    if low > high:
        raise r.fail("dose.max", f"the maximum ({high:g}) is below the minimum ({low:g})")
    default = r.number(r.required(table, "default", "dose"), "dose.default", low, high)
    allowed_raw = table.get("allowed", [])
    if not isinstance(allowed_raw, list):
        raise r.fail("dose.allowed", "expected a list of doses, e.g. [56, 84]")
    allowed = tuple(r.number(a, "dose.allowed", low, high) for a in allowed_raw)
    infused = r.flag(table.get("infused", True), "dose.infused")
    duration = (
        r.number(table["default_duration_min"], "dose.default_duration_min", 1, MAX_PHASE_MINUTES)
        if "default_duration_min" in table
        else None
    )
    if infused and duration is None:
        raise r.fail("dose.default_duration_min", "an infused dose needs its usual duration in minutes")
    return DoseRange(unit, low, high, default, allowed, infused, duration)


def _discharge(r: _Reader, raw: Any) -> DischargeNumbers:
    keys = ("minimum_observation_min", "observation_from", "aldrete_min", "padss_min", "vitals_max_age_min",
            "escort_required", "no_active_high_alarm")
    table = r.table(raw, "discharge", keys)
    observed_from = r.choice(r.required(table, "observation_from", "discharge"), "discharge.observation_from", Anchor)
    if observed_from is Anchor.DISCHARGE:
        raise r.fail("discharge.observation_from", "observation counts from infusion_start, infusion_stop or "
                     "recovery_start")
    return DischargeNumbers(
        minimum_observation_min=r.number(
            r.required(table, "minimum_observation_min", "discharge"), "discharge.minimum_observation_min", 0,
            MAX_PHASE_MINUTES,
        ),
        observation_from=observed_from,
        aldrete_min=r.whole(table.get("aldrete_min", ALDRETE_PASS), "discharge.aldrete_min", 0, 10),
        padss_min=r.whole(table.get("padss_min", PADSS_PASS), "discharge.padss_min", 0, 10),
        vitals_max_age_min=r.number(
            table.get("vitals_max_age_min", DISCHARGE_NIBP_MAX_AGE_S / SECONDS_PER_MINUTE),
            "discharge.vitals_max_age_min", 1, 60,
        ),
        escort_required=r.flag(table.get("escort_required", True), "discharge.escort_required"),
        no_active_high_alarm=r.flag(table.get("no_active_high_alarm", True), "discharge.no_active_high_alarm"),
    )


def _course(r: _Reader, raw: Any) -> CourseDefaults:
    table = r.table(raw, "course", ("planned_sessions", "interval_days", "booster_interval_days"))
    return CourseDefaults(
        planned_sessions=r.whole(r.required(table, "planned_sessions", "course"), "course.planned_sessions", 1, 50),
        interval_days=r.number(r.required(table, "interval_days", "course"), "course.interval_days", 0.5, 90),
        booster_interval_days=r.number(
            r.required(table, "booster_interval_days", "course"), "course.booster_interval_days", 1, 730
        ),
    )


def parse_protocol(text: str, source: str = "<protocol>") -> Protocol:
    """Build a protocol from TOML text; any problem raises :class:`ProtocolError`."""
    data = load_toml(text, source, ProtocolError)
    r = _Reader(text, source)
    r.table(data, "", _TOP_KEYS)
    if "protocol" not in data:
        raise r.fail("protocol", "missing section")
    meta = r.table(data["protocol"], "protocol", ("name", "title", "description", "drug", "route", "rems"))
    name = r.text(r.required(meta, "name", "protocol"), "protocol.name")
    if not _NAME.match(name):
        raise r.fail("protocol.name", "a name is lower-case letters, digits, - and _ (e.g. ketamine-iv)")
    for key in ("phases", "cuff", "checklist", "dose", "discharge", "course"):
        if key not in data:
            raise r.fail(key, "missing section")
    phases = _phases(r, data["phases"])
    checks = _checks(r, data.get("checks", []))
    discharge = _discharge(r, data["discharge"])
    return Protocol(
        name=name,
        title=r.text(meta.get("title", name), "protocol.title"),
        description=r.text(meta.get("description", ""), "protocol.description"),
        drug=r.text(r.required(meta, "drug", "protocol"), "protocol.drug"),
        route=r.text(r.required(meta, "route", "protocol"), "protocol.route"),
        rems=r.flag(meta.get("rems", False), "protocol.rems"),
        phases=MappingProxyType(phases),
        cuff=_cuff(r, data["cuff"]),
        checks=checks,
        scores=_scores(r, data.get("scores", [])),
        checklist=_checklist(r, data["checklist"]),
        dose=_dose(r, data["dose"]),
        discharge=discharge,
        course=_course(r, data["course"]),
        source=source,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


def load_protocol_file(path: str | Path) -> Protocol:
    """Read a protocol file; unreadable or invalid files raise :class:`ProtocolError`."""
    path, text = read_clinic_file(path, "the protocol", ProtocolError)
    return parse_protocol(text, str(path))


def shipped_text(name: str) -> str:
    """The text of a protocol shipped with the app (copy it to make a clinic's own)."""
    return resources.files("monitor.protocols").joinpath(f"{name}.toml").read_text(encoding="utf-8")


def protocols_dir() -> Path:
    """The clinic's protocols folder: INFUSION_MONITOR_PROTOCOLS, else ``protocols`` in the config folder."""
    env = os.environ.get(ENV_PREFIX + "PROTOCOLS")
    return Path(env).expanduser() if env else config_dir() / "protocols"


def clinic_protocols() -> tuple[dict[str, Protocol], list[str]]:
    """The clinic folder's usable protocols by the name each gives itself, and what is wrong with the others: a
    file that cannot be read, or a name given by more than one file (which of them is meant cannot be known)."""
    folder = protocols_dir()
    by_name: dict[str, list[Protocol]] = {}
    problems: list[str] = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.toml")):
            try:
                protocol = load_protocol_file(path)
            except ProtocolError as exc:
                problems.append(str(exc))
                continue
            by_name.setdefault(protocol.name, []).append(protocol)
    usable = {}
    for name, found in by_name.items():
        if len(found) > 1:
            problems.append(_twice(name, found))
        else:
            usable[name] = found[0]
    return usable, problems


def _twice(name: str, found: list[Protocol]) -> str:
    return (f"protocol '{name}' is given by more than one file ({', '.join(p.source for p in found)}); "
            "keep one, or give the others names of their own")


def available() -> dict[str, Protocol]:
    """Every usable protocol by name: the shipped ones, then the clinic's folder (which may replace them).

    A broken file in the clinic's folder is left out here, and so is a name two files give; :func:`load_protocol`
    and :func:`clinic_protocols` name the error.
    """
    found = {name: parse_protocol(shipped_text(name), f"built in ({name}.toml)") for name in SHIPPED}
    found.update(clinic_protocols()[0])
    return found


def load_protocol(name_or_path: str | None) -> Protocol:
    """A protocol by name (clinic folder first, then shipped) or by file path; None: the default."""
    wanted = name_or_path or DEFAULT_PROTOCOL
    if wanted.endswith(".toml") or os.sep in wanted:
        return load_protocol_file(wanted)
    clinic = protocols_dir() / f"{wanted}.toml"
    if clinic.is_file():
        load_protocol_file(clinic)  # a broken file of that name is named with its error
    usable, problems = clinic_protocols()
    if wanted in usable:
        return usable[wanted]
    twice = next((problem for problem in problems if problem.startswith(f"protocol '{wanted}' ")), None)
    if twice is not None:
        raise ProtocolError(twice)
    if wanted in SHIPPED:
        return parse_protocol(shipped_text(wanted), f"built in ({wanted}.toml)")
    names = ", ".join(sorted(available()))
    raise ProtocolError(f"no protocol named '{wanted}'; available: {names} (or give a .toml file)")


# -- timed checks on a timeline ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckState:
    """Where one timed check stands at a moment."""

    check: TimedCheck
    #: When it is due (None: its anchor has not happened yet).
    due_at: float | None
    #: When the measurement that satisfies it was taken (None: not yet).
    done_at: float | None
    #: The value that satisfied it, for blood pressure (systolic, diastolic).
    value: tuple[float, float] | None
    missed: bool
    #: A missed check taken after its window (it stays missed; the alarm can end).
    done_late_at: float | None = None

    @property
    def window(self) -> tuple[float, float] | None:
        """The accepted window around the due time."""
        if self.due_at is None:
            return None
        return self.due_at - self.check.before_min * 60.0, self.due_at + self.check.after_min * 60.0


def anchor_times(events: Iterable[SessionEvent]) -> dict[Anchor, float]:
    """When each anchor happened on a timeline (the first time)."""
    out: dict[Anchor, float] = {}
    for e in sorted(events, key=lambda e: e.t):
        if e.kind is EventKind.INFUSION_STARTED:
            out.setdefault(Anchor.INFUSION_START, e.t)
        elif e.kind is EventKind.INFUSION_STOPPED:
            out.setdefault(Anchor.INFUSION_STOP, e.t)
        elif e.kind is EventKind.RECOVERY_STARTED:
            out.setdefault(Anchor.RECOVERY_START, e.t)
            out.setdefault(Anchor.INFUSION_STOP, e.t)
        elif e.kind is EventKind.SESSION_COMPLETED:
            out.setdefault(Anchor.DISCHARGE, e.t)
    return out


def _cuff_times(readings: Sequence[Reading]) -> list[tuple[float, tuple[float, float]]]:
    """Reliable complete cuff values (time, (systolic, diastolic)), diastolic within 2 s of systolic."""
    out = []
    pending: tuple[float, float] | None = None  # the last systolic still waiting for its diastolic
    dia_before: tuple[float, float] | None = None
    for r in sorted((r for r in readings if r.parameter in (Parameter.NIBP_SYS, Parameter.NIBP_DIA) and r.reliable),
                    key=lambda r: r.t):
        assert r.value is not None
        if r.parameter is Parameter.NIBP_SYS:
            if dia_before is not None and abs(r.t - dia_before[0]) <= 2.0:
                out.append((r.t, (r.value, dia_before[1])))
                pending = dia_before = None
            else:
                pending = (r.t, r.value)
        elif pending is not None and abs(r.t - pending[0]) <= 2.0:
            out.append((pending[0], (pending[1], r.value)))
            pending = None
        else:
            dia_before = (r.t, r.value)
    return out


#: A "vitals" check is a cuff with a reliable SpO2 value no further from it than this.
VITALS_SPO2_WITHIN_S: Final = 60.0


def _observation_times(measure: Measure, events: Sequence[SessionEvent], readings: Sequence[Reading]) -> list[float]:
    if measure in SCALES_FOR:
        scales = {s.lower() for s in SCALES_FOR[measure]}
        times = [e.t for e in events if e.kind is EventKind.SCORE and str(e.detail.get("scale", "")).lower() in scales]
        if measure is Measure.RESPIRATION:
            times += [r.t for r in readings if r.parameter.value in ("rr", "etco2") and r.reliable]
        return sorted(times)
    if measure is Measure.SPO2:
        return [r.t for r in readings if r.parameter is Parameter.SPO2 and r.reliable]
    cuff = [t for t, _ in _cuff_times(readings)]
    if measure is Measure.VITALS:
        spo2 = [r.t for r in readings if r.parameter is Parameter.SPO2 and r.reliable]
        return [t for t in cuff if any(abs(s - t) <= VITALS_SPO2_WITHIN_S for s in spo2)]
    return cuff


def check_states(
    protocol: Protocol, events: Sequence[SessionEvent], readings: Sequence[Reading], now: float
) -> list[CheckState]:
    """Every timed check of the protocol judged at ``now``.

    A discharge check is due at completion (or ``now`` while the session runs): it asks for
    a measurement in the ``before_min`` before then, and is never "missed" by the clock - the
    session simply cannot complete without it.
    """
    events = standing_entries(events)  # a check answered by a score entered in error is answered by its correction
    anchors = anchor_times(events)
    cuff = dict(_cuff_times(readings))
    out = []
    for check in protocol.checks:
        base = anchors.get(check.anchor)
        if check.anchor is Anchor.DISCHARGE:
            base = anchors.get(Anchor.DISCHARGE, now)
        if base is None:
            out.append(CheckState(check, None, None, None, False))
            continue
        due = base + check.at_min * 60.0
        low, high = due - check.before_min * 60.0, due + check.after_min * 60.0
        observed = _observation_times(check.measure, events, readings)
        inside = [t for t in observed if low <= t <= min(high, now)]
        # Of the values in the window the one nearest the due time answers the check.
        done = min(inside, key=lambda t: abs(t - due)) if inside else None
        if check.anchor is Anchor.DISCHARGE and inside:
            done = max(inside)
        value = cuff.get(done) if done is not None and check.measure in (Measure.NIBP, Measure.VITALS) else None
        missed = done is None and check.anchor is not Anchor.DISCHARGE and now > high
        late = next((t for t in observed if high < t <= now), None) if missed else None
        out.append(CheckState(check, due, done, value, missed, late))
    return out


def describe(protocol: Protocol) -> str:
    """A protocol as a nurse or a medical director reads it (``infusion-monitor protocols --check``)."""
    out = [f"protocol {protocol.name}: {protocol.title} ({protocol.source})"]
    if protocol.description:
        out.append(f"  {protocol.description}")
    out.append(f"  drug {protocol.drug}, route {protocol.route}" + ("; REMS monitoring form required" if
                                                                    protocol.rems else ""))
    for rule in protocol.phases.values():
        bounds = []
        if rule.min_min is not None:
            bounds.append(f"min {rule.min_min:g}")
        if rule.max_min is not None:
            bounds.append(f"max {rule.max_min:g}")
        extra = f" ({', '.join(bounds)})" if bounds else ""
        interval = protocol.cuff.interval(rule.phase)
        cuff = f"cuff every {interval / 60:g} min" if interval else "no automatic cuff"
        out.append(f"  {rule.label:12} {rule.planned_min:g} min{extra}; {cuff}")
    for check in protocol.checks:
        if check.anchor is Anchor.DISCHARGE:
            when = f"within {check.before_min:g} min before discharge"
        else:
            when = (f"{check.at_min:g} min after {check.anchor.value.replace('_', ' ')} "
                    f"(-{check.before_min:g}/+{check.after_min:g} min)")
        out.append(f"  check {check.id}: {check.measure.value} {when}")
    for due in protocol.scores:
        out.append(f"  score {due.scale} {due.when.value.replace('_', ' ')}" + (" (required)" if due.required else ""))
    items = ", ".join(i.value for i in ChecklistItem if i in protocol.checklist.required)
    fasting = protocol.checklist.fasting_min_hours
    out.append(f"  checklist required: {items}" + (f"; fasting >= {fasting:g} h" if fasting is not None else ""))
    dose = protocol.dose
    allowed = f" (doses {', '.join(f'{a:g}' for a in dose.allowed)})" if dose.allowed else ""
    out.append(f"  dose {dose.default:g} {dose.unit.value}, range {dose.minimum:g}-{dose.maximum:g}{allowed}")
    d = protocol.discharge
    out.append(f"  discharge: observe >= {d.minimum_observation_min:g} min from "
               f"{d.observation_from.value.replace('_', ' ')}; Aldrete >= {d.aldrete_min}, PADSS >= {d.padss_min}; "
               f"vitals no older than {d.vitals_max_age_min:g} min")
    c = protocol.course
    out.append(f"  course: {c.planned_sessions} sessions every {c.interval_days:g} days, boosters every "
               f"{c.booster_interval_days:g} days")
    return "\n".join(out) + "\n"
