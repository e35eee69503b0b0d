"""Entries made at the chair under a protocol, and the protocol's gates on the session.

The recorder hands these commands here: the pre-infusion checklist, the dose plan and rate
changes, interventions, outcome questionnaires and REMS answers. Each is checked and turned
into a timeline event with structured detail. The gates say what the protocol requires before
the infusion starts (the checklist, the dose plan, required scores) and before the session
completes (required scores, the REMS form); the recorder adds them to the readiness checks of
:mod:`monitor.readiness`, and :class:`ProtocolWatch`
follows the timed checks so a missed one becomes a technical alarm like a late cuff.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, assert_never

from drivers.core.readings import NIBP_PARAMETERS, Parameter, Reading
from monitor import checklist as checklist_mod
from monitor import dose as dose_mod
from monitor import outcomes, rems
from monitor.entered_in_error import (
    NOUNS,
    correction_detail,
    correction_words,
    is_withdrawn,
    rate_words,
    standing_entries,
)
from monitor.entered_in_error import scale_key as scale_key  # where the chair's callers have always found it
from monitor.protocols import (
    RESPIRATION_SCALE,
    Anchor,
    CheckState,
    Measure,
    Protocol,
    ScoreMoment,
    anchor_times,
    check_states,
    depression_observed,
    respiratory_observations,
)
from monitor.session import EventKind, Phase, Session, SessionEvent, SessionRuleError
from monitor.wall_clock import clock_text

#: Commands a recorder passes to :func:`entry`.
ENTRY_COMMANDS: Final = frozenset(
    {"checklist", "plan_dose", "rate_change", "intervention", "outcome_score", "rems_answers"}
)
#: Readiness blockers the protocol adds (recorded as a protocol override when a reason overrides them).
PROTOCOL_BLOCKERS: Final = frozenset(
    {"checklist", "dose_plan", "infusion_too_short", "observation_too_short", "required_score", "score_not_met",
     "rems_form"}
)
#: The value each sedation or dissociation scale must show before discharge (CADSS-6: the patient's baseline,
#: judged in :func:`discharge_score_problems`).
_CADSS: Final = "CADSS6"
_DISCHARGE_VALUES: Final[Mapping[str, float]] = {"MOAA/S": 5.0, "RASS": 0.0, _CADSS: 0.0}
_RESPIRATION_KEY: Final = "RESPIRATION"
#: The range of each nursing scale the monitor knows (CLINICAL.md "Nursing scores and notes"): MOAA/S 0-5, RASS -5 to
#: +4, CADSS-6 six items (1, 2, 6, 7, 15, 22) of 0-4 each, 0-24 in total; a counted respiratory rate 0-80 a minute.
#: Other scales are free.
_SCALE_RANGES: Final[Mapping[str, tuple[int, int]]] = {
    "MOAA/S": (0, 5), "RASS": (-5, 4), _CADSS: (0, 24), _RESPIRATION_KEY: (0, 80)}
_CADSS_ITEM_RANGE: Final = (0, 4)


def check_score(scale: str, value: Any, items: Mapping[str, Any] | Iterable[Any] | None = None,
                depression: Any = None) -> None:
    """Refuse a score outside its scale (ValueError naming it); scales the monitor does not know pass. A
    respiratory check (:data:`RESPIRATION_SCALE`) also says, yes or no, whether respiratory depression was seen."""
    key = scale_key(scale)
    bounds = _SCALE_RANGES.get(key)
    if bounds is None:
        return
    low, high = bounds
    whole = isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    if not whole or not low <= value <= high:
        what = "breaths a minute" if key == _RESPIRATION_KEY else "a whole number"
        raise ValueError(f"{scale} is {what} from {low} to {high}, not {value!r}")
    if key == _RESPIRATION_KEY and not isinstance(depression, bool):
        raise ValueError("a respiratory check says whether respiratory depression was seen (yes or no)")
    if key == _CADSS and items:
        item_low, item_high = _CADSS_ITEM_RANGE
        scored = dict(items) if isinstance(items, Mapping) else dict(enumerate(items, start=1))
        for number, item in scored.items():
            if isinstance(item, bool) or not isinstance(item, int) or not item_low <= item <= item_high:
                raise ValueError(f"CADSS-6 item {number} is scored {item_low}-{item_high}, not {item!r}")
        if sum(scored.values()) != value:
            raise ValueError(f"the CADSS-6 items add up to {sum(scored.values())}, not the total {value!r}")
#: Technical conditions put on the timeline for timed checks.
CHECK_MISSED: Final = "check_missed"
CHECK_DONE_LATE: Final = "check_done_late"
_WATCHED: Final = frozenset({*NIBP_PARAMETERS, Parameter.SPO2})
#: Respiration values a check may look at (by parameter name: not every device has them).
_RESPIRATION: Final = frozenset({"rr", "etco2"})
#: SpO2 and respiration kept at most this often: a check's window is minutes wide.
_THINNED_S: Final = 30.0
#: Events that can answer a check or fix when one is due.
_JUDGED_EVENTS: Final = frozenset(
    {EventKind.SCORE, EventKind.INFUSION_STARTED, EventKind.INFUSION_STOPPED, EventKind.RECOVERY_STARTED,
     EventKind.SESSION_COMPLETED}
)


@dataclass(frozen=True, slots=True)
class Entry:
    """A checked entry ready for the timeline."""

    kind: EventKind
    detail: Mapping[str, Any]


#: What a dose plan says was given (the rest is how it was worked out, or its lot).
_GIVEN: Final = ("drug", "route", "total_mg", "duration_min", "concentration_mg_per_ml")


def _adds_only_the_lot(given: dose_mod.DosePlan | None, plan: dose_mod.DosePlan) -> bool:
    """Whether ``plan`` gives what ``given`` (a plan with no lot number) gave, and adds its lot number."""
    if given is None or given.lot or not plan.lot:
        return False
    return all(getattr(plan, name) == getattr(given, name) for name in _GIVEN)


def entry(
    name: str, args: Mapping[str, Any], protocol: Protocol, session: Session, events: Iterable[SessionEvent]
) -> Entry:
    """Check one chair-side entry and return the event to record (ValueError with the reason if wrong).

    ``events`` is the timeline so far (a quick checklist entry adds to the one already recorded).
    """
    if name == "checklist":
        if session.phase not in (Phase.SETUP, Phase.BASELINE):
            raise SessionRuleError("the pre-infusion checklist is entered before the infusion starts")
        if "quick" in args:
            found = checklist_mod.parse_quick(str(args["quick"]), checklist_mod.current_checklist(events),
                                              protocol.checklist)
        else:
            found = checklist_mod.PreInfusionChecklist.from_dict(args)
        detail = found.as_dict()
        detail["flagged"] = {flag.value: names for flag, names in found.flagged().items()}
        detail["problems"] = [p.text for p in checklist_mod.problems(found, protocol.checklist)]
        return Entry(EventKind.CHECKLIST, detail)
    if name == "plan_dose":
        events = list(events)
        plan = _dose_plan(args, protocol)
        if session.phase not in (Phase.SETUP, Phase.BASELINE) and any(
                e.kind is EventKind.DOSE_PLANNED for e in events):
            # A plan sets the rate from the infusion's start: a second one typed later would rewrite what was given.
            # A first one entered late (forgotten before the start) is the record of what was given and is taken,
            # and so is the lot number alone added to a plan that had none: it changes nothing given (without it, an
            # esketamine session's REMS form could never be completed, nor the patient discharged).
            if not _adds_only_the_lot(dose_mod.dose_record(events).plan, plan):
                raise SessionRuleError(
                    f"the dose was planned before the {protocol.label(Phase.INFUSION)} started: "
                    + ("during it, enter a new rate" if session.phase is Phase.INFUSION and plan.duration_min
                       else "only a lot number missing from it can be added now"))
            detail = plan.as_dict()
            detail["lot_added"] = True
            return Entry(EventKind.DOSE_PLANNED, detail)
        _check_dose_weight(plan, checklist_mod.current_checklist(events))
        dose_mod.check_plan(plan, protocol.dose)
        detail = plan.as_dict()
        detail["outside_range"] = dose_mod.outside_range(plan, protocol.dose)
        return Entry(EventKind.DOSE_PLANNED, detail)
    if name == "rate_change":
        if not protocol.dose.infused:
            raise SessionRuleError(f"the {protocol.name} protocol is not infused: it has no rate to change")
        if session.phase is not Phase.INFUSION or session.infusion_stopped_at is not None:
            raise SessionRuleError("the rate changes only while the infusion runs")
        rate = float(args["rate_mg_per_h"])
        if not rate >= 0:
            raise dose_mod.DoseError("a rate is 0 mg/h or more")
        confirmed = str(args.get("confirm_reason") or "").strip()
        if not confirmed:
            _check_rate(rate, dose_mod.dose_record(events).plan, protocol)
        changed: dict[str, Any] = {"rate_mg_per_h": rate}
        said = str(args.get("reason") or "").strip()
        if said:
            changed["reason"] = said
        if confirmed:
            changed["confirmed_reason"] = confirmed
        if args.get("corrects_last"):
            # Corrected as any entry in error is (a reason required; nothing in its place is no rate at all, so a
            # rate is never withdrawn): the wrong entry stays on the timeline, its rate replaced from its own time.
            changed.update(correction_detail(events, EventKind.RATE_CHANGED, args.get("correction_reason")))
        return Entry(EventKind.RATE_CHANGED, changed)
    if name == "intervention":
        return Entry(EventKind.INTERVENTION, _intervention_entry(args, events))
    if name == "outcome_score":
        raw = args.get("answers")
        answers = outcomes.parse_answers(raw) if isinstance(raw, str) else list(raw or [])
        scored = outcomes.score(str(args["scale"]), answers, str(args.get("entered_by", "patient")))
        return Entry(EventKind.OUTCOME_SCORE, scored.as_dict())
    if name == "rems_answers":
        if not protocol.rems:
            raise SessionRuleError(f"the {protocol.name} protocol has no REMS form")
        given = dict(args.get("answers") or {})
        checked = {key: rems.check_answer(key, value) for key, value in given.items()}
        if "ready_to_leave_at" in checked:
            _check_ready_time(float(checked["ready_to_leave_at"]), session, list(events))
        return Entry(EventKind.REMS_FORM, {"answers": checked})
    raise ValueError(f"unknown entry '{name}'")


def _intervention_entry(args: Mapping[str, Any], events: Iterable[SessionEvent]) -> dict[str, Any]:
    """What an intervention records: as given, or (``corrects_last`` with a ``correction_reason``) as the correction
    of the last intervention, entered in error, with what was given instead, or nothing (``withdrawn``)."""
    withdrawn = bool(args.get("corrects_last")) and bool(args.get("withdrawn"))
    detail: dict[str, Any] = {}
    if not withdrawn:
        done = dose_mod.intervention(
            str(args["kind"]), str(args.get("drug", "")),
            None if args.get("dose") is None else float(args["dose"]), str(args.get("route", "")),
        )
        detail = done.as_dict()
    if args.get("corrects_last"):
        detail.update(correction_detail(events, EventKind.INTERVENTION, args.get("correction_reason"),
                                        withdrawn=withdrawn))
    return detail


def _check_ready_time(ready: float, session: Session, events: list[SessionEvent]) -> None:
    """The REMS form's "ready to leave" time lies between the first spray (the session's start before it) and now:
    a time typed on the wrong day, or a year that is no year, is refused with the span it must lie in."""
    first = anchor_times(events).get(Anchor.INFUSION_START)
    low = first if first is not None else session.started_at
    if not low <= ready <= session.now + 60.0:
        what = "the first spray" if first is not None else "the session's start"
        raise rems.RemsAnswerError(
            f"{rems.LABELS['ready_to_leave_at']}: {_shown(ready)} is not between {what} ({_shown(low)}) and now "
            f"({_shown(session.now)})")


def _shown(t: float) -> str:
    """A moment as the clinic's clock showed it, with the zone (an hour that came twice is told apart)."""
    return clock_text(t, "%Y-%m-%d %H:%M", zone=True)


#: A dose planned on a weight further than this from the checklist's needs a confirmation (a slipped digit).
_WEIGHT_AGREES: Final = 0.10


def _check_dose_weight(plan: dose_mod.DosePlan, listed: checklist_mod.PreInfusionChecklist | None) -> None:
    """The weight a dose is computed from: an adult's (the checklist's range), and the checklist's own weight
    unless a confirmation says why not."""
    weight = plan.weight_kg
    if weight is None:
        return
    low, high = checklist_mod.WEIGHT_RANGE_KG
    if not low <= weight <= high:
        raise dose_mod.DoseError(f"a weight of {weight:g} kg is outside {low:g} to {high:g} kg")
    known = listed.weight_kg if listed is not None else None
    if known and abs(weight - known) > _WEIGHT_AGREES * known and not plan.confirmed_reason.strip():
        raise dose_mod.DoseNeedsConfirmation(
            f"the dose is planned on {weight:g} kg but the checklist says {known:g} kg: correct the weight, or "
            "confirm it with a reason"
        )


def _check_rate(rate: float, plan: dose_mod.DosePlan | None, protocol: Protocol) -> None:
    """A new rate that would give more than the protocol's maximum dose over the planned duration needs a
    confirmation, as a planned dose outside the range does (a slipped decimal point: 600 for 60.0 mg/h)."""
    allowed = protocol.dose
    if plan is None or not plan.duration_min or allowed.unit is not dose_mod.DoseUnit.MG_PER_KG or not plan.weight_kg:
        return
    per_kg = rate * plan.duration_min / dose_mod.MINUTES_PER_HOUR / plan.weight_kg
    if per_kg > allowed.maximum + 1e-9:
        raise dose_mod.DoseNeedsConfirmation(
            f"{rate:g} mg/h over the planned {plan.duration_min:g} min is {per_kg:.2g} mg/kg, above the protocol's "
            f"maximum of {allowed.maximum:g} mg/kg: confirm it with a reason"
        )


def _dose_plan(args: Mapping[str, Any], protocol: Protocol) -> dose_mod.DosePlan:
    def num(key: str) -> float | None:
        value = args.get(key)
        return None if value is None or value == "" else float(value)

    lot = str(args.get("lot") or "").strip() or None
    if protocol.dose.unit is dose_mod.DoseUnit.MG_PER_KG:
        weight, per_kg = num("weight_kg"), num("dose_mg_per_kg")
        if weight is None or per_kg is None:
            raise dose_mod.DoseError("a weight-based dose needs the weight (kg) and the dose (mg/kg)")
        duration = num("duration_min") or protocol.dose.default_duration_min
        plan = dose_mod.weight_based(
            protocol.drug, protocol.route, weight, per_kg, duration_min=duration,
            concentration_mg_per_ml=num("concentration_mg_per_ml"), lot=lot,
        )
    else:
        total = num("total_mg")
        if total is None:
            raise dose_mod.DoseError("a fixed dose needs the total in mg")
        plan = dose_mod.fixed(protocol.drug, protocol.route, total, weight_kg=num("weight_kg"), lot=lot)
    reason = str(args.get("confirm_reason") or "").strip()
    return dataclasses.replace(plan, confirmed_reason=reason) if reason else plan


# -- gates -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartCheck:
    """What the protocol still wants before the infusion starts."""

    problems: tuple[checklist_mod.ChecklistProblem, ...]
    dose_missing: bool
    scores_missing: tuple[str, ...] = ()

    def texts(self) -> list[str]:
        """Each missing thing in words, for the start dialog."""
        out = [p.text for p in self.problems]
        if self.dose_missing:
            out.append("dose: not planned")
        return out + list(self.scores_missing)


def start_check(protocol: Protocol, events: Iterable[SessionEvent]) -> StartCheck:
    """The checklist problems (and whether a dose was planned) at the infusion start."""
    listed = list(events)
    current = checklist_mod.current_checklist(listed)
    found = checklist_mod.problems(current, protocol.checklist)
    planned = any(e.kind is EventKind.DOSE_PLANNED for e in listed)
    return StartCheck(tuple(found), not planned, tuple(scores_missing(protocol, listed, ScoreMoment.BEFORE_INFUSION)))


def score_entry(args: Mapping[str, Any], events: Iterable[SessionEvent]) -> dict[str, Any]:
    """What a checked score records: as entered, or (``corrects_last`` with a ``correction_reason``) as the
    correction of the last score of its scale, which stays on the timeline superseded."""
    entered = {k: v for k, v in args.items() if k not in ("corrects_last", "correction_reason")}
    if args.get("corrects_last"):
        entered.update(correction_detail(events, EventKind.SCORE, args.get("correction_reason"),
                                         scale=str(args.get("scale", ""))))
    return entered


#: What a note or quick event keeps of what was entered (the quick event's name and its text).
_TYPED_ENTRY: Final = ("text", "what")


def typed_entry(kind: EventKind, args: Mapping[str, Any], events: Iterable[SessionEvent]) -> dict[str, Any]:
    """What a note or quick event records: as entered, or (``corrects_last`` with a ``correction_reason``) as the
    correction of the last entry of ``kind``, entered in error: the text typed stands in for it, and no text
    (or ``withdrawn``) leaves nothing in its place."""
    if not args.get("corrects_last"):
        return {k: v for k, v in args.items() if k not in ("corrects_last", "correction_reason", "withdrawn")}
    text = str(args.get("text") or "").strip()
    withdrawn = bool(args.get("withdrawn")) or not text
    entered: dict[str, Any] = {} if withdrawn else {k: args[k] for k in _TYPED_ENTRY if args.get(k)}
    entered.update(correction_detail(events, kind, args.get("correction_reason"), withdrawn=withdrawn))
    return entered


def scores_missing(protocol: Protocol, events: Iterable[SessionEvent], moment: ScoreMoment) -> list[str]:
    """Scales the protocol requires at ``moment`` that are not on the timeline yet.

    Before the infusion any time counts; before discharge only a score given in the pre-discharge window
    (:func:`discharge_window`: after the infusion's end, and after the infusion-end score where the protocol
    asks the same scale then): a sedation score from dosing says nothing about recovery.
    """
    listed = standing_entries(events)
    given = _scored_at(listed)
    out = []
    for due in protocol.scores:
        if not (due.required and due.when is moment):
            continue
        if moment is ScoreMoment.BEFORE_DISCHARGE:
            found = bool(discharge_window(protocol, due.scale, listed))
            earlier = " since the infusion ended" if given.get(scale_key(due.scale)) else ""
        else:
            found, earlier = scale_key(due.scale) in given, ""
        if not found:
            out.append(f"{due.scale}: not scored{earlier}")
    return out


def discharge_window(protocol: Protocol, scale: str, events: Iterable[SessionEvent]) -> list[SessionEvent]:
    """The scores of ``scale`` that count as given before discharge, oldest first (none before the end).

    The window opens at the infusion's end (its stop, or recovery entered). Where the protocol also asks
    the scale at the infusion's end (IV ketamine: CADSS-6 at both), the first score after the end is that
    one, and the pre-discharge score is a later, separate assessment.
    """
    listed = standing_entries(events)
    ended = anchor_times(listed).get(Anchor.INFUSION_STOP)
    if ended is None:
        return []
    key = scale_key(scale)
    after = sorted((e for e in listed if e.kind is EventKind.SCORE and e.t >= ended
                    and scale_key(str(e.detail.get("scale", ""))) == key), key=lambda e: e.t)
    also_at_end = any(s.when is ScoreMoment.INFUSION_END and scale_key(s.scale) == key for s in protocol.scores)
    return after[1:] if also_at_end else after


def discharge_score_problems(protocol: Protocol, events: Iterable[SessionEvent]) -> list[str]:
    """Pre-discharge scores whose newest value does not meet the readiness rule (CLINICAL.md "Discharge,
    hardened"): MOAA/S 5, RASS 0, CADSS-6 back to the patient's baseline (the newest CADSS-6 before the
    infusion, else 0: no dissociation). Only scales the protocol asks before discharge, and only scores
    given in their window (:func:`discharge_window`), are judged.
    """
    listed = standing_entries(events)
    started = anchor_times(listed).get(Anchor.INFUSION_START)
    out: list[str] = []
    seen: set[str] = set()
    for due in protocol.scores:
        key = scale_key(due.scale)
        if due.when is not ScoreMoment.BEFORE_DISCHARGE or key in seen or key not in _DISCHARGE_VALUES:
            continue
        seen.add(key)
        window = [v for v in (score_value(e) for e in discharge_window(protocol, due.scale, listed)) if v is not None]
        if not window:
            continue
        value = window[-1]
        if key == _CADSS:
            before = [e for e in listed if e.kind is EventKind.SCORE and started is not None and e.t < started
                      and scale_key(str(e.detail.get("scale", ""))) == key and score_value(e) is not None]
            baseline = score_value(max(before, key=lambda e: e.t)) if before else None
            baseline = 0.0 if baseline is None else baseline
            if value > baseline:
                out.append(f"{due.scale} {value:g}: not back to the baseline {baseline:g}")
        elif value != _DISCHARGE_VALUES[key]:
            out.append(f"{due.scale} {value:g}: not {_DISCHARGE_VALUES[key]:g} yet")
    breathing = respiratory_observations(listed, since=started)
    if breathing and depression_observed(breathing[-1]):
        # Observed until respiratory depression has resolved (CLINICAL.md): a respiratory check after the newest
        # observation of it must say so, whether it was seen at a check or answered on the REMS form.
        if breathing[-1].kind is EventKind.REMS_FORM:
            out.append(f"respiratory depression recorded on the REMS form at {clock_text(breathing[-1].t, '%H:%M')}: "
                       "check breathing again (E) once it has resolved")
        else:
            out.append("respiratory depression at the last respiratory check: check again once it has resolved")
    return out


def takes_rate(protocol: Protocol, phase: Phase) -> bool:
    """Whether the dose key enters a new rate now: only while an infused protocol's infusion runs (a nasal spray
    has a dose plan and no rate)."""
    return protocol.dose.infused and phase is Phase.INFUSION


def score_text(detail: Mapping[str, Any], short: bool = False) -> str:
    """A score as one line: its scale and value; a respiratory check with its unit and what was seen (``short``:
    the few words a chart marker has room for)."""
    scale, value = detail.get("scale", "score"), detail.get("value", "")
    if scale_key(str(scale)) != _RESPIRATION_KEY or "depression" not in detail:
        text = f"{scale} {value}".strip()
    else:
        seen = detail["depression"] is True
        text = (f"resp. {value}/min{', depression' if seen else ''}" if short else
                f"{scale} {value}/min, {'respiratory depression seen' if seen else 'no respiratory depression'}")
    if detail.get("corrects_at") is not None:
        text += (f" (corrects {detail.get('corrected_value')})" if short else
                 f", correcting {scale} {detail.get('corrected_value')} entered in error: "
                 f"{detail.get('correction_reason', '')}")
    return text


def corrected_line(event: SessionEvent) -> str:
    """A score, intervention, note, quick event or rate as one line, a correction saying what it corrects and why
    (``no intervention, correcting oxygen 2 L/min nasal cannula entered in error: wrong chair``)."""
    d = event.detail
    if event.kind is EventKind.SCORE:
        return score_text(d)
    if event.kind is EventKind.RATE_CHANGED:
        return f"rate {rate_words(d.get('rate_mg_per_h'))}" + correction_words(d)
    noun = NOUNS.get(event.kind, "entry")
    text = f"no {noun}" if is_withdrawn(d) else str(d.get("text") or d.get("type") or noun)
    return text + correction_words(d)


def score_value(event: SessionEvent) -> float | None:
    """A score's numeric value (None for a word such as a respiration answer)."""
    raw = event.detail.get("value")
    if isinstance(raw, bool):
        return None
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _scored_at(events: Iterable[SessionEvent]) -> dict[str, list[float]]:
    """When each scale was scored on the timeline (by :func:`scale_key`)."""
    out: dict[str, list[float]] = {}
    for e in events:
        if e.kind in (EventKind.SCORE, EventKind.OUTCOME_SCORE):
            out.setdefault(scale_key(str(e.detail.get("scale", ""))), []).append(e.t)
    return out


def scores_due(
    protocol: Protocol, events: Iterable[SessionEvent], readings: Iterable[Reading], phase: Phase
) -> tuple[str, ...]:
    """The scales the protocol asks for now and the timeline does not hold yet, in the protocol's order
    (:func:`scores_due_at`)."""
    return tuple(scale for scale, _moment in scores_due_at(protocol, events, readings, phase))


#: What a score's moment is called where the protocol asks the same scale at more than one.
DUE_MOMENT_WORDS: Final[Mapping[ScoreMoment, str]] = {
    ScoreMoment.BEFORE_INFUSION: "before infusion",
    ScoreMoment.WITH_EACH_NIBP_DURING_INFUSION: "with the cuff",
    ScoreMoment.INFUSION_END: "end of infusion",
    ScoreMoment.BEFORE_DISCHARGE: "before discharge",
}


def due_moment_words(protocol: Protocol, scale: str, moment: ScoreMoment) -> str:
    """Which of the scale's scores is due, in words ("before discharge"), where the protocol asks the scale at more
    than one moment (IV ketamine: CADSS-6 at the infusion's end and again before discharge); else ""."""
    moments = {s.when for s in protocol.scores if scale_key(s.scale) == scale_key(scale)}
    return DUE_MOMENT_WORDS[moment] if len(moments) > 1 else ""


def due_moment_follows(earlier: str, later: str) -> bool:
    """Whether the moment called ``later`` comes after the one called ``earlier`` (both :data:`DUE_MOMENT_WORDS`):
    the scale due for the first was given, and the next is due (not a score entered in error taking it back)."""
    order = list(DUE_MOMENT_WORDS.values())
    return earlier in order and later in order and order.index(later) > order.index(earlier)


def scores_due_at(
    protocol: Protocol, events: Iterable[SessionEvent], readings: Iterable[Reading], phase: Phase
) -> tuple[tuple[str, ScoreMoment], ...]:
    """The scales the protocol asks for now and the timeline does not hold yet, each with the moment it is due for
    (the first, where two are), in the protocol's order.

    Each moment has its stretch of the session, and a score is due there until one is given:
    ``before_infusion`` while the infusion has not started; ``with_each_nibp_during_infusion`` during
    a running infusion once a cuff value has arrived since the scale was last given (the first cuff of
    the infusion makes it due); ``infusion_end`` from the infusion's end (stopped, or recovery entered)
    until given after it; ``before_discharge`` during recovery until given in its window
    (:func:`discharge_window`).
    """
    listed = standing_entries(events)
    anchors = anchor_times(listed)
    started = anchors.get(Anchor.INFUSION_START)
    ended = anchors.get(Anchor.INFUSION_STOP)  # the stop, or recovery entered without one
    given = _scored_at(listed)

    def given_since(scale: str, t: float) -> bool:
        return any(at >= t for at in given.get(scale_key(scale), ()))

    last_cuff = None
    if started is not None:
        last_cuff = max((r.t for r in readings if r.parameter in NIBP_PARAMETERS and r.value is not None
                         and r.t >= started), default=None)
    due: dict[str, ScoreMoment] = {}
    for score in protocol.scores:
        moment = score.when
        if moment is ScoreMoment.BEFORE_INFUSION:
            wanted = phase in (Phase.SETUP, Phase.BASELINE) and not given_since(score.scale, -math.inf)
        elif moment is ScoreMoment.WITH_EACH_NIBP_DURING_INFUSION:
            wanted = (phase is Phase.INFUSION and ended is None and last_cuff is not None
                      and not given_since(score.scale, last_cuff))
        elif moment is ScoreMoment.INFUSION_END:
            wanted = (phase in (Phase.INFUSION, Phase.RECOVERY) and ended is not None
                      and not given_since(score.scale, ended))
        elif moment is ScoreMoment.BEFORE_DISCHARGE:
            wanted = (phase is Phase.RECOVERY and started is not None
                      and not discharge_window(protocol, score.scale, listed))
        else:
            assert_never(moment)
        if wanted and score.scale not in due:
            due[score.scale] = moment
    return tuple(due.items())


#: The scale whose button answers a timed check of each kind that a nurse scores (the first one the window offers).
CHECK_SCALE: Final[Mapping[Measure, str]] = {
    Measure.SEDATION: "MOAA/S", Measure.DISSOCIATION: "CADSS-6", Measure.RESPIRATION: RESPIRATION_SCALE}


def checks_due(protocol: Protocol, events: Iterable[SessionEvent], readings: Iterable[Reading],
               now: float) -> tuple[str, ...]:
    """The scales that answer the protocol's timed checks whose window is open now and that are not done yet
    (esketamine: sedation, dissociation and a respiratory check at about 40 minutes): due from the window's opening,
    as the "Missed" alarm comes at its close (before, nothing said so until it was missed). Discharge checks are
    left to the discharge's own scores."""
    due: list[str] = []
    for state in check_states(protocol, list(events), list(readings), now):
        scale = CHECK_SCALE.get(state.check.measure)
        window = state.window
        if (scale is None or window is None or state.done_at is not None or state.missed
                or state.check.anchor is Anchor.DISCHARGE or not window[0] <= now <= window[1]):
            continue
        if scale not in due:
            due.append(scale)
    return tuple(due)


def anchor_time(events: Iterable[SessionEvent], anchor: Anchor) -> float | None:
    """When an anchor (e.g. the infusion start: the first spray) happened on a timeline."""
    return anchor_times(events).get(anchor)


# -- timed checks while recording ---------------------------------------------------------------------------


class ProtocolWatch:
    """Follows the timed checks during a recording; reports each missed check once.

    It keeps only what the checks need: cuff, SpO2 and respiration readings and the timeline.
    Checks are judged again only when something they look at arrived or a window closes, so
    a recording replayed at full speed does not pay for a judgement every second.
    """

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.events: list[SessionEvent] = []
        self.readings: list[Reading] = []
        self.reported: set[str] = set()
        self.late_reported: set[str] = set()
        #: When each thinned parameter (SpO2, respiration) or each cuff value was last kept.
        self._last_kept: dict[str, float] = {}
        self._dirty = True
        self._next_close = -math.inf

    def observe(self, reading: Reading) -> None:
        """Keep a reading the checks may need: SpO2 and respiration thinned to one every 30 s, a cuff value
        once even when the monitor repeats it each poll.

        Every kept reading makes the checks be judged again over all kept readings, so what is kept must grow
        with the session's minutes, not with the device's rate (a monitor sending respiration each second
        made a 90-minute session's judging quadratic).
        """
        name = reading.parameter.value
        if reading.parameter not in _WATCHED and name not in _RESPIRATION:
            return
        last = self._last_kept.get(name)
        if reading.parameter in NIBP_PARAMETERS:
            if last == reading.t:
                return  # the same measurement again
        elif last is not None and reading.t - last < _THINNED_S:
            return
        self._last_kept[name] = reading.t
        self.readings.append(reading)
        self._dirty = True

    def on_event(self, event: SessionEvent) -> None:
        """Keep a timeline event."""
        self.events.append(event)
        if event.kind in _JUDGED_EVENTS:
            self._dirty = True

    def states(self, now: float) -> list[CheckState]:
        """Every check judged now."""
        return check_states(self.protocol, self.events, self.readings, now)

    def judge(self, now: float) -> tuple[list[CheckState], list[CheckState]]:
        """(checks newly missed, missed checks since done late), each reported once."""
        if not self._dirty and now <= self._next_close:
            return [], []
        states = self.states(now)
        self._dirty = False
        closes = [
            s.window[1] for s in states
            if s.window is not None and s.check.anchor is not Anchor.DISCHARGE and s.window[1] >= now
        ]
        self._next_close = min(closes, default=math.inf)
        missed, late = [], []
        for state in states:
            check_id = state.check.id
            if state.missed and check_id not in self.reported:
                self.reported.add(check_id)
                missed.append(state)
            if state.done_late_at is not None and check_id in self.reported and check_id not in self.late_reported:
                self.late_reported.add(check_id)
                late.append(state)
        return missed, late


def missed_detail(state: CheckState) -> dict[str, Any]:
    """The technical event's detail for a missed check."""
    check = state.check
    return {
        "condition": CHECK_MISSED,
        "check": check.id,
        "label": check.label,
        "measure": check.measure.value,
        "parameter": "nibp_sys" if check.measure in (Measure.NIBP, Measure.VITALS) else None,
        "due_at": state.due_at,
    }


def last_rate_entry(events: Iterable[SessionEvent]) -> SessionEvent | None:
    """The newest rate entered during the infusion (a correction too), None before any."""
    return max((e for e in events if e.kind is EventKind.RATE_CHANGED), key=lambda e: e.t, default=None)


def entry_text(event: SessionEvent, dose: dose_mod.DoseRange | None = None) -> str | None:
    """One short line for a chair-side entry on charts, timelines and reports (None for other events); ``dose``, the
    protocol's dose range, leaves out the mg/kg of a fixed dose (:func:`monitor.dose.weighed`)."""
    d = event.detail
    if event.kind is EventKind.DOSE_PLANNED:
        per_kg = d.get("dose_mg_per_kg") if dose is None or dose_mod.weighed(dose) else None
        rate = d.get("rate_mg_per_h")
        text = f"dose {d.get('total_mg'):g} mg" + (f" ({per_kg:g} mg/kg)" if per_kg else "")
        return text + (f" at {rate:g} mg/h" if rate else "") + (f" lot {d['lot']}" if d.get("lot") else "")
    if event.kind in (EventKind.RATE_CHANGED, EventKind.INTERVENTION):
        return corrected_line(event)
    if event.kind is EventKind.OUTCOME_SCORE:
        return f"{d.get('scale')} {d.get('total')} ({d.get('band')})"
    if event.kind is EventKind.CHECKLIST:
        problems = d.get("problems") or []
        return "checklist" + (f": {len(problems)} open" if problems else " complete")
    if event.kind is EventKind.REMS_FORM:
        return "REMS form answers"
    return None
