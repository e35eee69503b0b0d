"""Whether the session may move on: starting the infusion and completing (discharging) the session.

One home for the rules, asked by the recorder (which refuses a step that is not ready unless it
carries an override reason), by the autopilot of a planned session (which waits), and by the
screen (which shows the same blockers, highlights the next step only when it is ready, and asks
for a reason when the nurse overrides).

Starting the infusion (CLINICAL.md "The session a nurse runs"):

* the baseline phase must have lasted ``baseline_min_s`` (default 3 min);
* a complete baseline must exist (heart rate, SpO2 and at least one valid cuff) - this one cannot
  be overridden, since without a baseline no relative limit can be judged;
* a baseline blood pressure at or above the hold threshold (default SBP >= 165 or DBP >= 100), a
  high-priority alarm active, or a baseline of two cuffs that disagree (more than 20 mmHg systolic or
  15 mmHg diastolic apart: their median would be a value neither measured) needs an explicit
  override with a reason.

Completing the session (CLINICAL.md "Discharge, hardened"):

* the protocol's minimum recovery (the plan's recovery minutes) must be over;
* a valid cuff value no older than ``discharge_nibp_max_age_s`` (default 5 min) and a valid SpO2
  no older than ``discharge_spo2_max_age_s`` (default 1 min) must exist;
* no high-priority alarm may be on screen;
* discharge must have been scored in recovery (modified Aldrete, PADSS, escort: a ``discharge_scored``
  event), and the newest score must pass (:func:`discharge_score_blockers`).

A condition of the records still open (the clinic's server holds the patient's MRN with another name or birth
date at another chair) is listed among the check's notes, never as a blocker: it says nothing of whether the
patient is fit to leave, the nurse cannot end it (the records are put right by the clinic's IT, often after both
patients left), and an override asked at every such discharge, at both chairs, would teach overriding. Before the
patient leaves is the last moment to check the wristband with them, which is what the note asks.

Every blocker may be overridden with a reason (recorded on the timeline and in the audit log),
except a missing baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from drivers.core.clock import SECONDS_PER_MINUTE
from drivers.core.readings import Parameter, Reading
from monitor.labels import pressure_text
from monitor.session import PLAIN_PHASE_WORDS, Baseline, EventKind, Phase, Session, SessionEvent, SessionRuleError

START_INFUSION: Final = "start_infusion"
COMPLETE: Final = "complete"
START_RECOVERY: Final = "start_recovery"

#: How old the cuff value a discharge rests on may be, unless the profile or the protocol says otherwise.
DISCHARGE_NIBP_MAX_AGE_S: Final = 300.0
#: Completion blockers about the discharge score itself: the discharge form, which produces that score,
#: judges its own result, so the form and the highlighted next step look past them.
DISCHARGE_SCORE_BLOCKERS: Final = frozenset({"discharge_not_scored", "discharge_criteria"})
#: Blockers that wait for something a person enters (the checklist, the dose plan, a score), not for time to
#: pass or the patient's values to settle.
ENTRY_BLOCKERS: Final = frozenset({"checklist", "dose_plan", "required_score", "discharge_not_scored", "rems_form"})


@dataclass(frozen=True, slots=True)
class CareRules:
    """The clinic's rules for moving a session on (from the profile's [baseline] and [discharge]), and the
    protocol's names of the phases, which its blockers use."""

    baseline_min_s: float = 180.0
    hold_sys: float = 165.0
    hold_dia: float = 100.0
    discharge_nibp_max_age_s: float = DISCHARGE_NIBP_MAX_AGE_S
    discharge_spo2_max_age_s: float = 60.0
    #: Two baseline cuffs further apart than this (systolic, diastolic) need a third (or an override).
    cuffs_disagree_sys: float = 20.0
    cuffs_disagree_dia: float = 15.0
    #: Whether a high-priority alarm on screen stops completion (the protocol's ``no_active_high_alarm``).
    high_alarm_blocks_discharge: bool = True
    #: What the protocol calls each phase ("pre-dose", "dosing", "observation" for a nasal spray).
    phase_words: Mapping[Phase, str] = field(default_factory=lambda: dict(PLAIN_PHASE_WORDS))


@dataclass(frozen=True, slots=True)
class Blocker:
    """One reason a step is not ready; ``code`` is stable (for tests and the audit log)."""

    code: str
    text: str
    overridable: bool = True


@dataclass(frozen=True, slots=True)
class ValueAge:
    """A value the step rests on, with its age in seconds (None: no valid value)."""

    name: str
    text: str
    age_s: float | None
    max_age_s: float | None = None

    @property
    def fresh(self) -> bool:
        """There is a value and it is young enough (or no age limit applies)."""
        if self.age_s is None:
            return False
        return self.max_age_s is None or self.age_s <= self.max_age_s


@dataclass(frozen=True, slots=True)
class StepCheck:
    """Whether ``action`` is ready now, what blocks it, and the values it rests on."""

    action: str
    blockers: tuple[Blocker, ...] = ()
    baseline: Baseline | None = None
    values: tuple[ValueAge, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """Nothing stands in the way."""
        return not self.blockers

    @property
    def overridable(self) -> bool:
        """Every blocker may be overridden with a reason."""
        return all(b.overridable for b in self.blockers)

    def summary(self, *, entries_first: bool = False) -> str:
        """The blockers in one line (``entries_first``: what a person must still enter before what time or the
        patient's values will settle, for a line cut at the screen's edge)."""
        blockers = sorted(self.blockers, key=lambda b: b.code not in ENTRY_BLOCKERS) if entries_first else self.blockers
        return "; ".join(b.text for b in blockers)

    def without(self, codes: frozenset[str]) -> StepCheck:
        """The same check with the blockers of ``codes`` left out (those a dialog settles itself)."""
        kept = tuple(b for b in self.blockers if b.code not in codes)
        return StepCheck(self.action, kept, self.baseline, self.values, self.notes)

    def enforce(self, override_reason: str | None) -> dict[str, Any]:
        """Raise unless ready or overridden with a reason; returns what the timeline should record.

        :raises OverrideRequired: blockers and no reason (or a blocker no reason can override).
        """
        if self.ready:
            return {}
        reason = (override_reason or "").strip()
        hard = [b for b in self.blockers if not b.overridable]
        if hard:
            raise OverrideRequired(self, "; ".join(b.text for b in hard))
        if not reason:
            raise OverrideRequired(self, f"{self.summary()} (to go ahead anyway, give an override reason)")
        return {"override_reason": reason, "overridden": [b.code for b in self.blockers]}


class OverrideRequired(SessionRuleError):
    """A step refused because it is not ready; the check says why."""

    def __init__(self, check: StepCheck, message: str) -> None:
        super().__init__(message)
        self.check = check


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else max(0.0, now - at)


def _newest_valid(readings: Iterable[Reading], parameter: Parameter | None) -> Reading | None:
    """The newest valid reading (of ``parameter``, or of any parameter when None)."""
    best: Reading | None = None
    for r in readings:
        if (parameter is None or r.parameter is parameter) and r.reliable and (best is None or r.t >= best.t):
            best = r
    return best


def infusion_start_check(
    session: Session, rules: CareRules, high_alarms: Iterable[str] = (), now: float | None = None
) -> StepCheck:
    """Whether the infusion may start now, with the baseline it would use."""
    now = session.now if now is None else now
    words = rules.phase_words
    first = words[Phase.BASELINE]
    if session.phase is not Phase.BASELINE:
        text = (
            f"take a baseline first: start the {first} phase"
            if session.phase is Phase.SETUP
            else f"{words[Phase.INFUSION]} cannot start from the {words[session.phase]} phase"
        )
        return StepCheck(START_INFUSION, (Blocker("phase", text, overridable=False),))
    blockers: list[Blocker] = []
    missing = session.baseline_missing()
    preview = session.baseline_preview(now) if not missing else None
    if missing:
        blockers.append(Blocker("baseline_incomplete", "baseline incomplete: missing " + ", ".join(missing), False))
    elapsed = now - session.phase_started_at[Phase.BASELINE]
    if elapsed < rules.baseline_min_s:
        blockers.append(
            Blocker(
                "baseline_too_short",
                f"the {first} phase has run {elapsed / SECONDS_PER_MINUTE:.1f} min of the "
                f"{rules.baseline_min_s / SECONDS_PER_MINUTE:g} min minimum",
            )
        )
    if preview is not None and (preview.nibp_sys >= rules.hold_sys or preview.nibp_dia >= rules.hold_dia):
        blockers.append(
            Blocker(
                "baseline_bp_hold",
                f"baseline BP {pressure_text(preview.nibp_sys, preview.nibp_dia)} is at or above the hold threshold "
                f"{rules.hold_sys:g}/{rules.hold_dia:g}",
            )
        )
    high = tuple(high_alarms)
    if high:
        blockers.append(Blocker("high_alarm", "high-priority alarm on screen: " + "; ".join(high)))
    notes: list[str] = []
    cuffs = session.baseline_cuffs()
    if preview is not None and len(cuffs) < 2:
        notes.append(f"{len(cuffs)} valid cuff in the baseline; two or more are recommended")
    if len(cuffs) == 2:
        # The median of two is their mean: two cuffs far apart give a baseline neither of them measured.
        (s1, d1, _), (s2, d2, _) = cuffs
        if abs(s1 - s2) > rules.cuffs_disagree_sys or abs(d1 - d2) > rules.cuffs_disagree_dia:
            blockers.append(
                Blocker(
                    "baseline_cuffs_disagree",
                    f"the two baseline cuffs ({s1:g}/{d1:g} and {s2:g}/{d2:g}) disagree: take a third "
                    "(the median of three sets the baseline)",
                )
            )
    return StepCheck(START_INFUSION, tuple(blockers), preview, notes=tuple(notes))


def discharge_check(
    session: Session, rules: CareRules, high_alarms: Iterable[str] = (), now: float | None = None,
    to_check: Iterable[str] = (),
) -> StepCheck:
    """Whether the session may be completed (the patient discharged) now; ``to_check``: what to check before the
    patient leaves without it holding up discharge (the check's notes)."""
    now = session.now if now is None else now
    last = rules.phase_words[Phase.RECOVERY]
    if session.phase is not Phase.RECOVERY:
        now_in = rules.phase_words[session.phase]
        return StepCheck(COMPLETE, (Blocker("phase", f"a session completes from {last} (now in {now_in})", False),))
    blockers: list[Blocker] = []
    remaining = session.recovery_remaining(now)
    if remaining is not None and remaining > 0:
        # The session's plan (110 min of esketamine observation), not the protocol's minimum (30 min, held by the
        # recorder's own blocker): calling the plan the minimum told the nurse the patient could not leave earlier.
        blockers.append(
            Blocker(
                "recovery_too_short",
                f"{remaining / SECONDS_PER_MINUTE:.1f} min of the {session.plan.recovery_min:g} min "
                f"planned {last} left",
            )
        )
    valid = session.latest_valid
    sys_r = valid.get(Parameter.NIBP_SYS)
    dia_r = valid.get(Parameter.NIBP_DIA)
    spo2_r = valid.get(Parameter.SPO2)
    hr_r = _newest_valid((valid[p] for p in (Parameter.HR, Parameter.PR) if p in valid), None)
    cuff_at = session.last_valid_nibp_at
    nibp = ValueAge(
        "NIBP",
        f"{pressure_text(sys_r.value, dia_r.value)} mmHg" if sys_r and dia_r and sys_r.value and dia_r.value
        else "no value",
        _age(now, cuff_at),
        rules.discharge_nibp_max_age_s,
    )
    spo2 = ValueAge(
        "SpO2",
        f"{spo2_r.value:g} %" if spo2_r is not None and spo2_r.value is not None else "no value",
        _age(now, spo2_r.t if spo2_r else None),
        rules.discharge_spo2_max_age_s,
    )
    heart = ValueAge(
        "HR",
        f"{hr_r.value:g} /min" if hr_r is not None and hr_r.value is not None else "no value",
        _age(now, hr_r.t if hr_r is not None else None),
    )
    for value, code in ((nibp, "nibp_stale"), (spo2, "spo2_stale")):
        if not value.fresh:
            limit = (value.max_age_s or 0) / SECONDS_PER_MINUTE
            what = (
                f"no valid {value.name}"
                if value.age_s is None
                else f"{value.name} is {value.age_s / SECONDS_PER_MINUTE:.1f} min old"
            )
            blockers.append(Blocker(code, f"{what} (at most {limit:g} min for discharge)"))
    high = tuple(high_alarms)
    if high and rules.high_alarm_blocks_discharge:
        blockers.append(Blocker("high_alarm", "high-priority alarm on screen: " + "; ".join(high)))
    return StepCheck(COMPLETE, tuple(blockers), session.baseline, (nibp, spo2, heart), tuple(to_check))


def discharge_score_blockers(events: Iterable[SessionEvent], recovery_started: float | None) -> list[Blocker]:
    """What the discharge score says against completing: none given in recovery, or the newest one failing.

    A complete session is a scored discharge (CLINICAL.md: "discharge scored and signed"): a score from before
    recovery (none is expected then) does not count. A failing score (modified Aldrete or PADSS below its
    mark, no escort, no-driving instruction not acknowledged) names its reasons; both need an override reason.
    """
    newest: SessionEvent | None = None
    for event in events:
        if event.kind is not EventKind.DISCHARGE_SCORED:
            continue
        if recovery_started is not None and event.t < recovery_started:
            continue
        if newest is None or event.t >= newest.t:
            newest = event
    if newest is None:
        return [Blocker("discharge_not_scored", "discharge not scored (modified Aldrete, PADSS, escort)")]
    if newest.detail.get("passed") is True:
        return []
    reasons = [str(r) for r in newest.detail.get("reasons") or []] or ["the score does not pass"]
    return [Blocker("discharge_criteria", "discharge criteria not met: " + "; ".join(reasons))]


def step_check(
    action: str, session: Session, rules: CareRules, high_alarms: Iterable[str] = (), to_check: Iterable[str] = ()
) -> StepCheck | None:
    """The check for a phase action that has one (start_infusion, complete), else None."""
    if action == START_INFUSION:
        return infusion_start_check(session, rules, high_alarms)
    if action == COMPLETE:
        return discharge_check(session, rules, high_alarms, to_check=to_check)
    return None


#: The phase action that normally comes next in each phase.
NEXT_STEP: Final[Mapping[Phase, str]] = {
    Phase.SETUP: "start_baseline",
    Phase.BASELINE: START_INFUSION,
    Phase.INFUSION: START_RECOVERY,
    Phase.RECOVERY: COMPLETE,
}


def infusion_done(elapsed_s: float, plan_min: float, stopped: bool) -> bool:
    """Whether the infusion has run its planned minutes, or was marked stopped (recovery is then next)."""
    return stopped or elapsed_s >= plan_min * SECONDS_PER_MINUTE


def next_step(phase: Phase, check: StepCheck | None, *, infusion_over: bool = True) -> str | None:
    """The step to draw as the primary action: the usual next one, once its check (if any) is ready.

    During the infusion, recovery is the next step only once the infusion is over
    (``infusion_over``, see :func:`infusion_done`): a minute into it nothing is drawn as next.
    """
    step = NEXT_STEP.get(phase)
    if step is None:
        return None
    if phase is Phase.INFUSION and not infusion_over:
        return None
    if check is not None and step == COMPLETE:
        # The step opens the discharge form, which gives the discharge score: a missing one is no reason to wait.
        check = check.without(DISCHARGE_SCORE_BLOCKERS)
    if check is not None and check.action == step and not check.ready:
        return None
    return step
