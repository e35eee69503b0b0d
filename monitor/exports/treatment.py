"""The treatment side of one session for the exports: protocol, checklist, dose, interventions, scores, REMS.

Everything comes from the record's timeline (so a de-identified, time-shifted record gives a
de-identified, time-shifted summary). The JSON export carries :meth:`TreatmentSummary.as_dict`;
HL7 and FHIR take :func:`coded_results` - the outcome totals with their LOINC codes, the dose
figures and the chair's scores with the program's own codes, as no LOINC code names a ketamine dose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from drivers.core.readings import iso_utc
from monitor import chair, rems
from monitor.checklist import current_checklist
from monitor.dose import DoseRecord, as_stated, dose_record, interventions
from monitor.entered_in_error import is_correction, scale_key, superseded, superseded_text
from monitor.exports.data import SessionRecord
from monitor.outcomes import OutcomeScore, outcome_scores, questionnaire
from monitor.protocols import DEFAULT_PROTOCOL, RESPIRATION_SCALE
from monitor.session import EventKind

LOINC: Final = "LN"
#: The program's own code system for figures without a LOINC code (HL7 "99" local prefix).
LOCAL_SYSTEM_HL7: Final = "99INFMON"


@dataclass(frozen=True, slots=True)
class CodedResult:
    """A number a receiver can file: code, display, system, value, UCUM unit, time."""

    code: str
    display: str
    loinc: bool
    value: float
    unit: str
    t: float
    #: Band or note as text (e.g. "moderate"), empty when none.
    text: str = ""
    #: How the result stands, in FHIR's Observation status words: ``final``; a score entered in error
    #: ``entered-in-error``; the score that corrects it ``corrected``.
    status: str = "final"


@dataclass(frozen=True)
class TreatmentSummary:
    """What the protocol asked and what was given, for one session."""

    protocol: str
    checklist: Mapping[str, Any] | None
    dose: DoseRecord
    interventions: tuple[tuple[float, Mapping[str, Any]], ...]
    outcomes: Mapping[str, OutcomeScore]
    outcome_times: Mapping[str, float]
    rems: rems.RemsForm | None

    def as_dict(self, time_text: Callable[[float], str]) -> dict[str, Any]:
        """Plain values; ``time_text`` writes a moment the way the export does."""
        plan = self.dose.plan
        return {
            "protocol": self.protocol,
            "checklist": None if self.checklist is None else dict(self.checklist),
            "dose": None if plan is None else {
                **plan.as_dict(),
                "started_at": None if self.dose.started_at is None else time_text(self.dose.started_at),
                "stopped_at": None if self.dose.stopped_at is None else time_text(self.dose.stopped_at),
                "rate_changes": [{"t": time_text(c.t), "rate_mg_per_h": c.rate_mg_per_h}
                                 for c in self.dose.rate_changes],
                "delivered_mg": self.dose.delivered_mg,
                "delivered_mg_per_kg": self.dose.delivered_mg_per_kg,
            },
            "interventions": [{"t": time_text(t), **dict(i)} for t, i in self.interventions],
            "outcomes": {
                name: {**score.as_dict(), "t": time_text(self.outcome_times[name])}
                for name, score in self.outcomes.items()
            },
            "rems": None if self.rems is None else self.rems.as_dict(),
        }


def summary(record: SessionRecord) -> TreatmentSummary:
    """The treatment summary of a loaded session."""
    events = list(record.events)
    protocol = record.protocol
    checklist_event = next((e for e in reversed(events) if e.kind is EventKind.CHECKLIST), None)
    found = current_checklist(events)
    checklist = None
    if found is not None and checklist_event is not None:
        checklist = {**found.as_dict(), "flagged": dict(checklist_event.detail.get("flagged") or {}),
                     "problems": list(checklist_event.detail.get("problems") or [])}
    times = {str(e.detail.get("scale")): e.t for e in events if e.kind is EventKind.OUTCOME_SCORE}
    form = None
    if protocol is not None and protocol.rems:
        end = record.session.get("ended_at")
        now = float(end) if end is not None else max((e.t for e in events), default=record.started_at)
        form = rems.build_form(protocol, record.session, record.patient, events, list(record.readings), now)
    return TreatmentSummary(
        protocol=str(record.session.get("protocol") or DEFAULT_PROTOCOL),
        checklist=checklist,
        dose=session_dose(record),
        interventions=tuple((t, i.as_dict()) for t, i in interventions(events)),
        outcomes=outcome_scores(events),
        outcome_times=times,
        rems=form,
    )


def session_dose(record: SessionRecord) -> DoseRecord:
    """The session's dose as every export and the review window give it."""
    # A session that ended with the drug still running (closed) delivered it until the record ends; one not
    # ended (unfinished) as far as its stored data. A dose its protocol states in mg has no mg/kg.
    found = dose_record(record.events, _record_end(record.session))
    return found if record.protocol is None else as_stated(found, record.protocol.dose)


def treatment_line(record: SessionRecord) -> str:
    """The treatment in one line of plain words: the drug, the plan, what was delivered over how long, the rate
    changes, pauses and interventions; "no dose recorded" without a plan."""
    return " · ".join(treatment_parts(record))


def treatment_parts(record: SessionRecord) -> list[str]:
    """The parts of :func:`treatment_line`, in its order (a window that wraps the line breaks between them)."""
    dose = session_dose(record)
    plan = dose.plan
    if plan is None:
        return ["Treatment: no dose recorded"]
    planned = f"planned {plan.total_mg:g} mg"
    if plan.dose_mg_per_kg is not None and plan.weight_kg:
        planned += f" ({plan.dose_mg_per_kg:g} mg/kg × {plan.weight_kg:g} kg)"
    if plan.rate_mg_per_h is not None:
        planned += f" at {plan.rate_mg_per_h:g} mg/h"
    minutes = dose.infusion_min
    if dose.delivered_mg is None:
        delivered = "infusion not started"
    else:
        delivered = f"delivered {dose.delivered_mg:g} mg"
        if dose.delivered_mg_per_kg is not None:
            delivered += f" ({dose.delivered_mg_per_kg:g} mg/kg)"
        if minutes is not None:
            delivered += f" in {minutes:.0f} min"
    pauses = len(dose.pauses)
    # Delivered first: the figure a reviewer signs off is read before the plan it is compared with.
    return [
        f"Treatment: {plan.drug} {plan.route}", delivered, planned,
        _count(len(dose.rate_changes), "rate change"),
        "no pauses" if not pauses else f"{_count(pauses, 'pause')} ({dose.paused_min:.0f} min)",
        _count(len(interventions(record.events)), "intervention"),
    ]


def _count(n: int, noun: str) -> str:
    """A count with its noun: "1 pause", "2 pauses"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def coded_results(record: SessionRecord) -> list[CodedResult]:
    """Outcome totals (LOINC) and dose figures (local codes), in time order."""
    found = summary(record)
    out: list[CodedResult] = []
    for name, score in found.outcomes.items():
        q = questionnaire(name)
        out.append(CodedResult(q.loinc_total, q.loinc_display, True, float(score.total), "{score}",
                               found.outcome_times[name], score.band))
    dose = found.dose
    if dose.plan is not None and dose.started_at is not None:
        drug = dose.plan.drug
        out.append(CodedResult("dose-planned-mg", f"{drug} planned dose", False, dose.plan.total_mg, "mg",
                               dose.started_at))
        if dose.plan.dose_mg_per_kg is not None:
            out.append(CodedResult("dose-planned-mg-per-kg", f"{drug} planned dose per kg", False,
                                   dose.plan.dose_mg_per_kg, "mg/kg", dose.started_at))
        if dose.delivered_mg is not None:
            # Delivered by the stop, or by the end of a session closed while the drug ran.
            ended = record.session.get("ended_at")
            until = dose.stopped_at if dose.stopped_at is not None else (
                max(float(ended), dose.started_at) if ended is not None else dose.started_at)
            out.append(CodedResult("dose-delivered-mg", f"{drug} delivered dose", False, dose.delivered_mg, "mg",
                                   until))
    out += score_results(record)
    out.sort(key=lambda r: r.t)
    return out


def score_results(record: SessionRecord) -> list[CodedResult]:
    """The scores entered at the chair (MOAA/S, RASS, CADSS-6, respiratory checks) with the program's own codes,
    as no LOINC code names them; a score entered in error stays, said to be so, before its correction."""
    events = list(record.events)
    replaced = superseded(events)
    out: list[CodedResult] = []
    for index, e in enumerate(events):
        value = chair.score_value(e) if e.kind is EventKind.SCORE else None
        if value is None:
            continue
        scale = str(e.detail.get("scale", ""))
        status = "entered-in-error" if index in replaced else "corrected" if is_correction(e) else "final"
        unit = "/min" if scale_key(scale) == scale_key(RESPIRATION_SCALE) else "{score}"
        text = chair.score_text(e.detail)
        if index in replaced:
            text += f" ({superseded_text(replaced[index], iso_utc(replaced[index].t))})"
        code = "".join(ch for ch in scale_key(scale).lower() if ch.isalnum())
        out.append(CodedResult(f"score-{code}", scale, False, value, unit, e.t,
                               text, status))
    return out


def _record_end(session: Mapping[str, Any]) -> float | None:
    """Where a session's record ends: its end, else (not ended) its last stored data."""
    for key in ("ended_at", "last_data_at"):
        if session.get(key) is not None:
            return float(session[key])
    return None
