"""A ketamine-infusion session: phases, timeline events, baseline, timers and the NIBP cycle.

The session never reads the wall clock. Its notion of "now" is the time of the newest
reading (or the source's clock while no readings arrive), so a replay at any speed gives the
same phases, timers and cuff schedule.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from drivers.core.clock import SECONDS_PER_MINUTE
from drivers.core.readings import NIBP_PARAMETERS, Parameter, Reading
from monitor.constants import (
    NIBP_INTERVAL_BASELINE_S,
    NIBP_INTERVAL_INFUSION_S,
    NIBP_INTERVAL_RANGE_MIN,
    NIBP_INTERVAL_RECOVERY_S,
    NIBP_OVERDUE_CYCLES,
    NIBP_REQUEST_TIMEOUT_S,
)
from monitor.plan import SessionPlan


class Phase(StrEnum):
    """Where the session is; the order is the order a session moves through."""

    SETUP = "setup"
    BASELINE = "baseline"
    INFUSION = "infusion"
    RECOVERY = "recovery"
    COMPLETE = "complete"


PHASE_ORDER = tuple(Phase)


class EventKind(StrEnum):
    """Things that happen on a session's timeline."""

    SESSION_STARTED = "session_started"
    SESSION_RESUMED = "session_resumed"
    SESSION_CLOSED = "session_closed"
    #: A recording that stopped unexpectedly (a crash, a power cut) closed afterwards without resuming it: at its
    #: last stored data, by whom the close was asked (the detail says when).
    CLOSED_AFTER_CRASH = "closed_after_crash"
    BASELINE_STARTED = "baseline_started"
    BASELINE_TAKEN = "baseline_taken"
    INFUSION_STARTED = "infusion_started"
    INFUSION_PAUSED = "infusion_paused"
    INFUSION_RESUMED = "infusion_resumed"
    INFUSION_STOPPED = "infusion_stopped"
    RECOVERY_STARTED = "recovery_started"
    SESSION_COMPLETED = "session_completed"
    DISCHARGE_SCORED = "discharge_scored"
    NIBP_REQUESTED = "nibp_requested"
    NOTE = "note"
    QUICK_EVENT = "quick_event"
    SCORE = "score"
    ADDENDUM = "addendum"
    #: A physician's attestation that they reviewed the finished record (:mod:`monitor.sign_off`).
    SIGNED_OFF = "signed_off"
    LINK_LOST = "link_lost"
    LINK_RESTORED = "link_restored"
    TECHNICAL = "technical"
    DEVICE_CHANGED = "device_changed"
    PATIENT_IDENTIFIED = "patient_identified"
    SETTINGS_CHANGED = "settings_changed"
    CLOCK_CHANGED = "clock_changed"
    DEVICE_CLOCK_OFFSET = "device_clock_offset"
    READINGS_BEFORE_START = "readings_before_start"
    # The course of treatment (monitor.checklist, monitor.dose, monitor.outcomes, monitor.rems).
    CHECKLIST = "checklist"
    DOSE_PLANNED = "dose_planned"
    RATE_CHANGED = "rate_changed"
    INTERVENTION = "intervention"
    OUTCOME_SCORE = "outcome_score"
    REMS_FORM = "rems_form"


PHASE_START_EVENT = {
    Phase.BASELINE: EventKind.BASELINE_STARTED,
    Phase.INFUSION: EventKind.INFUSION_STARTED,
    Phase.RECOVERY: EventKind.RECOVERY_STARTED,
    Phase.COMPLETE: EventKind.SESSION_COMPLETED,
}

#: The phases' own names, for a session whose protocol names them no other way (a protocol's ``labels()``
#: gives e.g. pre-dose / dosing / observation for a nasal spray).
PLAIN_PHASE_WORDS: Mapping[Phase, str] = MappingProxyType({phase: phase.value for phase in Phase})

#: Timeline events that start or step a phase: the phase and what happened to it.
PHASE_STEP_EVENT: Mapping[EventKind, tuple[Phase, str]] = MappingProxyType({
    EventKind.BASELINE_STARTED: (Phase.BASELINE, "started"),
    EventKind.INFUSION_STARTED: (Phase.INFUSION, "started"),
    EventKind.INFUSION_PAUSED: (Phase.INFUSION, "paused"),
    EventKind.INFUSION_RESUMED: (Phase.INFUSION, "resumed"),
    EventKind.INFUSION_STOPPED: (Phase.INFUSION, "stopped"),
    EventKind.RECOVERY_STARTED: (Phase.RECOVERY, "started"),
})


def phase_step_text(kind: EventKind, phase_words: Mapping[Phase, str] | None = None) -> str | None:
    """``dosing stopped``: a phase step named after the phase as ``phase_words`` (the session's protocol)
    call it; None for an event that is not a phase step."""
    step = PHASE_STEP_EVENT.get(kind)
    if step is None:
        return None
    phase, what = step
    return f"{(phase_words or {}).get(phase, phase.value)} {what}"


def length_text(seconds: float) -> str:
    """A session length as ``1 h 32 min`` or ``31 min`` (a listing's; a running timer is :func:`minutes_seconds`)."""
    minutes = round(seconds / 60.0)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def minutes_seconds(seconds: float | None) -> str:
    """A session timer as ``[-]MM:SS`` (whole seconds, toward zero) below an hour, ``[-]H h MM min`` from an hour
    on (a session left open overnight read "774:04 ago", which reads as a time of day); ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    sign = "-" if seconds < 0 else ""
    whole = abs(int(seconds))
    if whole >= 3600:
        return f"{sign}{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{sign}{whole // 60:02d}:{whole % 60:02d}"


def minutes_ago(seconds: float) -> str:
    """``just now``, ``4 min ago``, ``1 h 05 min ago``."""
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    return f"{minutes // 60} h {minutes % 60:02d} min ago"


def time_ago(seconds: float) -> str:
    """``59 s ago`` within the first minute, then as :func:`minutes_ago` (a length, never read as a time of day):
    the end of the watch as the window's header and `record`'s line say it ("watch done 59 s ago", not "00:59 ago",
    which read like a time of day)."""
    return f"{max(0, int(seconds))} s ago" if seconds < 60 else minutes_ago(seconds)


def _frozen(detail: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(detail or {}))


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One entry on the timeline, attributed to a user where a person caused it."""

    t: float
    kind: EventKind
    phase: Phase
    user: str | None = None
    detail: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))


class SessionRuleError(Exception):
    """An action the session rules forbid, with a message a nurse can act on."""


class BaselineMissing(SessionRuleError):
    """Infusion cannot start before a full baseline (heart rate, SpO2, NIBP) exists."""


@dataclass(frozen=True, slots=True)
class Baseline:
    """The patient's own reference values, taken in the baseline phase."""

    taken_at: float
    heart_rate: float
    heart_rate_parameter: Parameter
    spo2: float
    nibp_sys: float
    nibp_dia: float
    nibp_mean: float

    def as_dict(self) -> dict[str, Any]:
        """Plain values for storage and export."""
        return {
            "taken_at": self.taken_at,
            "heart_rate": self.heart_rate,
            "heart_rate_parameter": str(self.heart_rate_parameter),
            "spo2": self.spo2,
            "nibp_sys": self.nibp_sys,
            "nibp_dia": self.nibp_dia,
            "nibp_mean": self.nibp_mean,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        """Inverse of :meth:`as_dict`."""
        return cls(
            taken_at=float(data["taken_at"]),
            heart_rate=float(data["heart_rate"]),
            heart_rate_parameter=Parameter(data["heart_rate_parameter"]),
            spo2=float(data["spo2"]),
            nibp_sys=float(data["nibp_sys"]),
            nibp_dia=float(data["nibp_dia"]),
            nibp_mean=float(data["nibp_mean"]),
        )

    def value(self, parameter: Parameter) -> float | None:
        """Baseline value for a parameter (HR and PR share the heart-rate baseline)."""
        return {
            Parameter.HR: self.heart_rate,
            Parameter.PR: self.heart_rate,
            Parameter.SPO2: self.spo2,
            Parameter.NIBP_SYS: self.nibp_sys,
            Parameter.NIBP_DIA: self.nibp_dia,
            Parameter.NIBP_MEAN: self.nibp_mean,
        }.get(parameter)


class _BaselineCollector:
    """Gathers trustworthy values while the session is in its baseline phase.

    Only valid values count (no flag that makes a value untrustworthy, no missing value). Heart
    rate and SpO2 are the median of their valid values. Blood pressure is taken per cuff: a cuff
    counts when both its systolic and diastolic values are valid, and the baseline is the median
    systolic and the median diastolic of those cuffs (mean likewise, or estimated from them).
    """

    def __init__(self) -> None:
        self.values: dict[Parameter, list[float]] = {p: [] for p in Parameter}
        self._cuffs: dict[float, dict[Parameter, float]] = {}

    def add(self, reading: Reading) -> None:
        if reading.reliable and reading.parameter is not Parameter.PLETH:
            assert reading.value is not None
            self.values[reading.parameter].append(reading.value)
            if reading.parameter in NIBP_PARAMETERS:
                self._cuffs.setdefault(reading.t, {})[reading.parameter] = reading.value

    def cuffs(self) -> list[tuple[float, float, float | None]]:
        """Valid cuffs of the phase, oldest first: (systolic, diastolic, mean or None)."""
        out = []
        for t in sorted(self._cuffs):
            cuff = self._cuffs[t]
            if Parameter.NIBP_SYS in cuff and Parameter.NIBP_DIA in cuff:
                out.append((cuff[Parameter.NIBP_SYS], cuff[Parameter.NIBP_DIA], cuff.get(Parameter.NIBP_MEAN)))
        return out

    def missing(self) -> list[str]:
        """Names of what is still needed for a full baseline."""
        needed = []
        if not (self.values[Parameter.HR] or self.values[Parameter.PR]):
            needed.append("heart rate")
        if not self.values[Parameter.SPO2]:
            needed.append("SpO2")
        if not self.cuffs():
            needed.append("blood pressure (NIBP)")
        return needed

    def build(self, taken_at: float) -> Baseline:
        if self.missing():
            raise BaselineMissing("baseline incomplete: missing " + ", ".join(self.missing()))
        hr_param = Parameter.HR if self.values[Parameter.HR] else Parameter.PR
        cuffs = self.cuffs()
        sys_v = statistics.median(c[0] for c in cuffs)
        dia_v = statistics.median(c[1] for c in cuffs)
        means = [c[2] for c in cuffs if c[2] is not None]
        # Where the cuff reports no mean, the usual estimate dia + (sys - dia) / 3 stands in.
        mean_v = statistics.median(means) if means else dia_v + (sys_v - dia_v) / 3
        return Baseline(
            taken_at=taken_at,
            heart_rate=round(statistics.median(self.values[hr_param]), 1),
            heart_rate_parameter=hr_param,
            spo2=round(statistics.median(self.values[Parameter.SPO2]), 1),
            nibp_sys=round(sys_v, 1),
            nibp_dia=round(dia_v, 1),
            nibp_mean=round(mean_v, 1),
        )


@dataclass(frozen=True, slots=True)
class NibpSchedule:
    """How often the session starts the cuff in each phase (seconds; None = not automatically)."""

    baseline_s: float | None = NIBP_INTERVAL_BASELINE_S
    infusion_s: float | None = NIBP_INTERVAL_INFUSION_S
    recovery_s: float | None = NIBP_INTERVAL_RECOVERY_S

    def interval(self, phase: Phase) -> float | None:
        """Cycle length in the given phase."""
        return {
            Phase.BASELINE: self.baseline_s,
            Phase.INFUSION: self.infusion_s,
            Phase.RECOVERY: self.recovery_s,
        }.get(phase)


class Session:
    """Rules and clocks of one infusion session; every change comes back as timeline events."""

    def __init__(
        self,
        session_id: str,
        started_at: float,
        plan: SessionPlan | None = None,
        nibp_schedule: NibpSchedule | None = None,
    ) -> None:
        self.id = session_id
        self.started_at = started_at
        self.plan = plan or SessionPlan()
        self.nibp_schedule = nibp_schedule or NibpSchedule()
        self.phase = Phase.SETUP
        self.now = started_at
        self.baseline: Baseline | None = None
        self.phase_started_at: dict[Phase, float] = {Phase.SETUP: started_at}
        self.phases_reached: list[Phase] = [Phase.SETUP]
        self.infusion_paused_at: float | None = None
        self.infusion_paused_total = 0.0
        self.infusion_stopped_at: float | None = None
        #: The infusion was stopped before the protocol's minimum (the stop event says why).
        self.infusion_stopped_early = False
        self.latest: dict[Parameter, Reading] = {}
        #: The newest reading of each parameter that carried a usable value.
        self.latest_valid: dict[Parameter, Reading] = {}
        self.last_nibp_at: float | None = None
        #: Time of the newest cuff whose systolic and diastolic were both valid.
        self.last_valid_nibp_at: float | None = None
        #: The newest usable cuff value of any pressure (what "NIBP overdue" counts from).
        self.last_usable_nibp_at: float | None = None
        self.nibp_requested_at: float | None = None
        #: A cuff started before an interruption whose value never came (set by :meth:`replay`; None: none).
        self.cuff_lost_at: float | None = None
        #: When the cuff measurement that gave the newest value started (its request; else the value's own time):
        #: the cycle runs from start to start, as a monitor's automatic cycle does, not from value to start.
        self.last_cuff_started_at: float | None = None
        self._collector = _BaselineCollector()
        self._outbox: list[SessionEvent] = []

    # -- time and readings -------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Move the session clock forward (never backward)."""
        if now > self.now:
            self.now = now

    def observe(self, reading: Reading) -> None:
        """Take a reading into account: clock, latest values, baseline and NIBP timing."""
        self.advance(reading.t)
        if reading.parameter is Parameter.PLETH:
            return
        # A reading measured before the one shown (a held-back message, a device clock stamping out of order)
        # is kept and stored, but never shown as the current value.
        shown = self.latest.get(reading.parameter)
        if shown is None or reading.t >= shown.t:
            self.latest[reading.parameter] = reading
        valid = self.latest_valid.get(reading.parameter)
        if reading.reliable and (valid is None or reading.t >= valid.t):
            self.latest_valid[reading.parameter] = reading
        if reading.parameter in NIBP_PARAMETERS and reading.value is not None:
            if self.last_nibp_at is None or reading.t > self.last_nibp_at:
                self.last_nibp_at = reading.t
                started = self.nibp_requested_at
                self.last_cuff_started_at = started if started is not None and started <= reading.t else reading.t
            if reading.reliable and (self.last_usable_nibp_at is None or reading.t > self.last_usable_nibp_at):
                self.last_usable_nibp_at = reading.t
            self.nibp_requested_at = None
        if reading.parameter in (Parameter.NIBP_SYS, Parameter.NIBP_DIA) and reading.reliable:
            other = self.latest.get(
                Parameter.NIBP_DIA if reading.parameter is Parameter.NIBP_SYS else Parameter.NIBP_SYS
            )
            paired = other is not None and other.reliable and other.t == reading.t
            if paired and (self.last_valid_nibp_at is None or reading.t > self.last_valid_nibp_at):
                self.last_valid_nibp_at = reading.t
        if self.phase is Phase.BASELINE:
            self._collector.add(reading)

    def displayed_heart_rate(self) -> Reading | None:
        """The heart rate a nurse sees: ECG ``hr`` while it is current and usable, otherwise ``pr`` (an ECG number
        flagged invalid, artifact or calibrating is no heart rate: the oximeter's pulse stands in and is judged)."""
        hr = self.latest.get(Parameter.HR)
        pr = self.latest.get(Parameter.PR)
        if hr is not None and (hr.reliable or pr is None) and (pr is None or hr.t >= pr.t - 10.0):
            return hr
        return pr if pr is not None else hr

    # -- events --------------------------------------------------------------------------

    def _emit(
        self, kind: EventKind, at: float, user: str | None = None, **detail: Any
    ) -> SessionEvent:
        event = SessionEvent(t=at, kind=kind, phase=self.phase, user=user, detail=_frozen(detail))
        self._outbox.append(event)
        return event

    def take_events(self) -> list[SessionEvent]:
        """Events produced since the last call, oldest first."""
        events, self._outbox = self._outbox, []
        return events

    def record(
        self, kind: EventKind, at: float | None = None, user: str | None = None, **detail: Any
    ) -> SessionEvent:
        """Put a note, score, quick event or technical event on the timeline."""
        if self.phase is Phase.COMPLETE and kind not in (EventKind.ADDENDUM, EventKind.DISCHARGE_SCORED):
            raise SessionRuleError("the session is complete; add an addendum instead")
        return self._emit(kind, self.now if at is None else at, user, **detail)

    # -- phase changes -------------------------------------------------------------------

    def _enter(self, phase: Phase, at: float, user: str | None, **detail: Any) -> None:
        self.phase = phase
        self.phase_started_at[phase] = at
        if phase not in self.phases_reached:
            self.phases_reached.append(phase)
        self._emit(PHASE_START_EVENT[phase], at, user, **detail)

    def _at(self, at: float | None) -> float:
        if at is not None:
            self.advance(at)
            return at
        return self.now

    def start_baseline(self, at: float | None = None, user: str | None = None) -> None:
        """Begin collecting the baseline; allowed from setup (or again from baseline)."""
        when = self._at(at)
        if self.phase not in (Phase.SETUP, Phase.BASELINE):
            raise SessionRuleError(f"baseline can only start before the infusion (now in {self.phase})")
        self._collector = _BaselineCollector()
        self._enter(Phase.BASELINE, when, user)
        # A fresh baseline needs a cuff value from this phase.
        self.nibp_requested_at = None

    def baseline_missing(self) -> list[str]:
        """What the baseline still lacks (empty when it is complete or already taken)."""
        if self.baseline is not None:
            return []
        if self.phase is not Phase.BASELINE:
            return ["the baseline phase has not been started"]
        return self._collector.missing()

    def baseline_preview(self, at: float | None = None) -> Baseline | None:
        """The baseline the infusion would use if it started now (None while incomplete)."""
        if self.phase is not Phase.BASELINE or self._collector.missing():
            return None
        return self._collector.build(self.now if at is None else at)

    def baseline_cuffs(self) -> list[tuple[float, float, float | None]]:
        """The valid cuffs collected in this baseline phase (systolic, diastolic, mean)."""
        return self._collector.cuffs() if self.phase is Phase.BASELINE else []

    def start_infusion(self, at: float | None = None, user: str | None = None, **detail: Any) -> None:
        """Freeze the baseline and start the infusion; refused until a full baseline exists.

        The readiness rules (minimum duration, hold threshold, alarms) are checked by the caller
        (:mod:`monitor.readiness`); an override it accepted travels in ``detail``.
        """
        if self.phase is not Phase.BASELINE:
            if self.phase is Phase.SETUP:
                raise BaselineMissing("take a baseline first: start the baseline phase")
            raise SessionRuleError(f"the infusion cannot start from the {self.phase} phase")
        when = self._at(at)
        baseline = self._collector.build(when)
        self.baseline = baseline
        self._emit(EventKind.BASELINE_TAKEN, when, user, **baseline.as_dict())
        self._enter(Phase.INFUSION, when, user, **detail)

    def pause_infusion(self, at: float | None = None, user: str | None = None, reason: str = "") -> None:
        """Mark the pump paused; paused time does not count as infusion time."""
        when = self._at(at)
        if self.phase is not Phase.INFUSION or self.infusion_stopped_at is not None:
            raise SessionRuleError("only a running infusion can be paused")
        if self.infusion_paused_at is not None:
            raise SessionRuleError("the infusion is already paused")
        self.infusion_paused_at = when
        self._emit(EventKind.INFUSION_PAUSED, when, user, reason=reason)

    def resume_infusion(self, at: float | None = None, user: str | None = None) -> None:
        """Mark the pump running again after a pause."""
        when = self._at(at)
        if self.infusion_paused_at is None:
            raise SessionRuleError("the infusion is not paused")
        self.infusion_paused_total += when - self.infusion_paused_at
        self.infusion_paused_at = None
        self._emit(EventKind.INFUSION_RESUMED, when, user)

    def stop_infusion(self, at: float | None = None, user: str | None = None, **detail: Any) -> None:
        """Mark the end of drug delivery (recovery may start now or a little later).

        Never refused while the infusion runs (stopping a pump is a safety action); a stop before the
        protocol's minimum carries what the caller adds in ``detail`` (the minimum, the reason).
        """
        when = self._at(at)
        if self.phase is not Phase.INFUSION:
            raise SessionRuleError("the infusion is not running")
        if self.infusion_stopped_at is not None:
            raise SessionRuleError("the infusion has already been stopped")
        if self.infusion_paused_at is not None:
            self.infusion_paused_total += when - self.infusion_paused_at
            self.infusion_paused_at = None
        self.infusion_stopped_at = when
        self.infusion_stopped_early = "before_minimum_min" in detail
        self._emit(EventKind.INFUSION_STOPPED, when, user, infused_min=round(self.infusion_elapsed() / 60, 2),
                   **detail)

    def start_recovery(self, at: float | None = None, user: str | None = None, **detail: Any) -> None:
        """Enter recovery; stops the infusion first if that was not yet marked (an override travels in ``detail``)."""
        when = self._at(at)
        if self.phase is not Phase.INFUSION:
            raise SessionRuleError(f"recovery follows the infusion (now in {self.phase})")
        if self.infusion_stopped_at is None:
            self.stop_infusion(when, user)
        self._enter(Phase.RECOVERY, when, user, **detail)

    def complete(self, at: float | None = None, user: str | None = None, **detail: Any) -> None:
        """Finish the session after recovery (discharge scoring is recorded by the caller)."""
        when = self._at(at)
        if self.phase is not Phase.RECOVERY:
            raise SessionRuleError(f"a session completes from recovery (now in {self.phase})")
        self._enter(Phase.COMPLETE, when, user, **detail)

    # -- clocks --------------------------------------------------------------------------

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the session started."""
        return max(0.0, (self.now if now is None else now) - self.started_at)

    def infusion_elapsed(self, now: float | None = None) -> float:
        """Seconds of drug delivery so far (pauses excluded)."""
        start = self.phase_started_at.get(Phase.INFUSION)
        if start is None:
            return 0.0
        now = self.now if now is None else now
        end = self.infusion_stopped_at if self.infusion_stopped_at is not None else now
        paused = self.infusion_paused_total
        if self.infusion_paused_at is not None and self.infusion_stopped_at is None:
            paused += now - self.infusion_paused_at
        return max(0.0, end - start - paused)

    def recovery_remaining(self, now: float | None = None) -> float | None:
        """Seconds left of the minimum recovery watch (negative once it is over); None before recovery."""
        start = self.phase_started_at.get(Phase.RECOVERY)
        if start is None:
            return None
        now = self.now if now is None else now
        return self.plan.recovery_min * SECONDS_PER_MINUTE - (now - start)

    # -- NIBP cycle ------------------------------------------------------------------------

    def nibp_interval(self) -> float | None:
        """Current cuff cycle in seconds, None where the phase has no automatic cycle."""
        return self.nibp_schedule.interval(self.phase)

    def nibp_next_due(self) -> float | None:
        """When the next cuff measurement is due (session time), None when none is scheduled."""
        interval = self.nibp_interval()
        if interval is None:
            return None
        phase_start = self.phase_started_at[self.phase]
        if self.phase is Phase.BASELINE and (self.last_nibp_at is None or self.last_nibp_at < phase_start):
            return phase_start
        reference = self.last_cuff_started_at if self.last_cuff_started_at is not None else phase_start
        return reference + interval

    def set_nibp_interval(
        self, phase: Phase | str, minutes: float, at: float | None = None, user: str | None = None
    ) -> None:
        """Change the cuff cycle of one phase (e.g. infusion every 10 min instead of 5)."""
        phase = Phase(phase)
        if phase not in (Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY):
            raise SessionRuleError(f"the {phase} phase has no cuff cycle")
        low, high = NIBP_INTERVAL_RANGE_MIN
        if not low <= minutes <= high:
            raise SessionRuleError(f"a cuff cycle must be {low:g} to {high:g} minutes, not {minutes:g}")
        field_name = f"{phase.value}_s"
        before = getattr(self.nibp_schedule, field_name)
        self.nibp_schedule = replace(self.nibp_schedule, **{field_name: minutes * SECONDS_PER_MINUTE})
        self.record(
            EventKind.SETTINGS_CHANGED, self._at(at), user, setting=f"nibp_interval_{phase.value}",
            minutes=minutes, before_minutes=None if before is None else before / SECONDS_PER_MINUTE,
        )

    def nibp_age(self, now: float | None = None) -> float | None:
        """Seconds since the last cuff value, None before the first."""
        if self.last_nibp_at is None:
            return None
        return (self.now if now is None else now) - self.last_nibp_at

    def nibp_overdue_after_s(self) -> float | None:
        """How long without a cuff value makes the cuff overdue in this phase (None: it cannot be)."""
        interval = self.nibp_interval()
        if interval is None or self.phase is Phase.BASELINE:
            return None
        return NIBP_OVERDUE_CYCLES * interval

    def nibp_overdue(self, now: float | None = None, *, device_starts_cuff: bool | None = None) -> bool:
        """More than :data:`NIBP_OVERDUE_CYCLES` cycles of the current phase have passed without a cuff value.

        The one judgement of a late cuff: the timeline entry and the technical alarm both ask here.
        ``device_starts_cuff`` is what the device can do: True for one that starts the cuff itself, False
        for one that cannot (a cuff started at the monitor, or an oximeter alone). A device that cannot start
        the cuff and has sent no blood pressure yet is not held to the cycle (an oximeter alone would
        otherwise be "overdue" all session). None asks regardless of the device: the alarm watches the
        patient's blood pressure whatever is connected. A pending cuff start does not stop the clock.
        """
        if device_starts_cuff is False and self.last_nibp_at is None:
            return False
        limit = self.nibp_overdue_after_s()
        interval = self.nibp_interval()
        if limit is None or interval is None:
            return False
        now = self.now if now is None else now
        phase_start = self.phase_started_at[self.phase]
        # Only a usable cuff counts (a value flagged invalid or artifact is no blood pressure).
        last = self.last_usable_nibp_at
        reference = last if last is not None else phase_start
        # The clock starts no earlier than the first phase with a cycle (the infusion): a cuff from the baseline
        # gets a fresh chance there; later phases go on counting from the last cuff (recovery's longer cycle
        # does not end an overdue cuff).
        cycled_from = self.phase_started_at.get(Phase.INFUSION, phase_start)
        reference = max(reference, cycled_from - interval)
        return now - reference > limit

    def nibp_request_pending(self, now: float | None = None) -> bool:
        """Whether a started cuff measurement may still bring its value (started less than
        :data:`NIBP_REQUEST_TIMEOUT_S` ago)."""
        now = self.now if now is None else now
        return self.nibp_requested_at is not None and now - self.nibp_requested_at < NIBP_REQUEST_TIMEOUT_S

    def nibp_due(self, now: float | None = None) -> bool:
        """Whether the cuff should be started now (not while a started measurement is pending)."""
        now = self.now if now is None else now
        due = self.nibp_next_due()
        if due is None or now < due:
            return False
        return not self.nibp_request_pending(now)

    def note_nibp_requested(self, at: float | None = None, user: str | None = None, reason: str = "") -> None:
        """Record that the cuff was started (by the schedule or by the nurse)."""
        when = self._at(at)
        self.nibp_requested_at = when
        self._emit(EventKind.NIBP_REQUESTED, when, user, reason=reason or "schedule")

    # -- restore after a restart -----------------------------------------------------------

    def replay(self, events: Iterable[SessionEvent], readings: Iterable[Reading] = ()) -> None:
        """Rebuild phase, baseline and timers from stored events (and recent readings)."""
        events = sorted(events, key=lambda e: e.t)
        for event in events:
            self.advance(event.t)
            kind = event.kind
            if kind is EventKind.BASELINE_STARTED:
                self.phase = Phase.BASELINE
                self.phase_started_at[Phase.BASELINE] = event.t
            elif kind is EventKind.BASELINE_TAKEN:
                self.baseline = Baseline.from_dict(event.detail)
            elif kind is EventKind.INFUSION_STARTED:
                self.phase = Phase.INFUSION
                self.phase_started_at[Phase.INFUSION] = event.t
            elif kind is EventKind.INFUSION_PAUSED:
                self.infusion_paused_at = event.t
            elif kind is EventKind.INFUSION_RESUMED and self.infusion_paused_at is not None:
                self.infusion_paused_total += event.t - self.infusion_paused_at
                self.infusion_paused_at = None
            elif kind is EventKind.INFUSION_STOPPED:
                if self.infusion_paused_at is not None:
                    self.infusion_paused_total += event.t - self.infusion_paused_at
                    self.infusion_paused_at = None
                self.infusion_stopped_at = event.t
                self.infusion_stopped_early = "before_minimum_min" in event.detail
            elif kind is EventKind.RECOVERY_STARTED:
                self.phase = Phase.RECOVERY
                self.phase_started_at[Phase.RECOVERY] = event.t
            elif kind is EventKind.SESSION_COMPLETED:
                self.phase = Phase.COMPLETE
                self.phase_started_at[Phase.COMPLETE] = event.t
            elif kind is EventKind.SETTINGS_CHANGED and str(event.detail.get("setting", "")).startswith(
                "nibp_interval_"
            ):
                phase_name = str(event.detail["setting"]).removeprefix("nibp_interval_")
                self.nibp_schedule = replace(
                    self.nibp_schedule, **{f"{phase_name}_s": float(event.detail["minutes"]) * SECONDS_PER_MINUTE}
                )
            if self.phase not in self.phases_reached:
                self.phases_reached.append(self.phase)
        # Each cuff value is matched with the request that started it, so the cycle runs from its start again.
        requests = [e.t for e in events if e.kind is EventKind.NIBP_REQUESTED]
        for reading in readings:
            if reading.parameter in NIBP_PARAMETERS and requests:
                started = bisect.bisect_right(requests, reading.t)
                self.nibp_requested_at = requests[started - 1] if started else None
            self.observe(reading)
        if requests and (self.last_nibp_at is None or requests[-1] > self.last_nibp_at):
            # A cuff started and not answered before the restart: its value will not come to this process, so it
            # holds up no new cuff (held as pending, it kept the next one back for 150 s while one was due).
            self.cuff_lost_at = requests[-1]
            self.nibp_requested_at = None
        self._outbox.clear()
