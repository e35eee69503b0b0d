"""Discharge scoring: modified Aldrete and PADSS, escort and the no-driving instruction.

Pure functions. The items a monitor can judge (circulation and SpO2 for Aldrete, vital signs
for PADSS) are computed from the latest reliable values against the session baseline; the
others are what the nurse observed and enters. Every result carries each item's score, the
total, whether it passes and the reasons it does not (CLINICAL.md, "Discharge criteria").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from drivers.core.readings import Parameter, Reading
from monitor.labels import pressure_text
from monitor.session import Baseline

ALDRETE_PASS: Final = 9
PADSS_PASS: Final = 9

# Modified Aldrete circulation: deviation of blood pressure from baseline, as a fraction.
ALDRETE_BP_FULL: Final = 0.20  # within 20 % scores 2
ALDRETE_BP_NONE: Final = 0.50  # 50 % or more scores 0
# Modified Aldrete SpO2 thresholds, percent.
ALDRETE_SPO2_ROOM_AIR: Final = 92.0  # above this on room air scores 2
ALDRETE_SPO2_FLOOR: Final = 90.0  # below this (even with oxygen) scores 0
# PADSS vital signs: within 20 % scores 2, up to 40 % scores 1, beyond scores 0.
PADSS_VITALS_FULL: Final = 0.20
PADSS_VITALS_PARTIAL: Final = 0.40


class ScoreInputError(ValueError):
    """A nurse-entered item outside 0-2, with the item named."""


@dataclass(frozen=True, slots=True)
class ItemScore:
    """One item of a score: its points, whether the monitor computed it, and why it scored so."""

    name: str
    score: int
    maximum: int
    computed: bool
    basis: str


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A whole score: items, total, the pass mark and the outcome."""

    name: str
    items: tuple[ItemScore, ...]
    threshold: int

    @property
    def total(self) -> int:
        """Sum of the item scores."""
        return sum(i.score for i in self.items)

    @property
    def maximum(self) -> int:
        """Highest possible total."""
        return sum(i.maximum for i in self.items)

    @property
    def passed(self) -> bool:
        """Total at or above the pass mark."""
        return self.total >= self.threshold

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the score falls short: the total and every item below its maximum."""
        if self.passed:
            return ()
        short = [f"{i.name} {i.score}/{i.maximum} ({i.basis})" for i in self.items if i.score < i.maximum]
        return (f"{self.name} {self.total}/{self.maximum}, below {self.threshold}", *short)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the timeline and exports."""
        return {
            "name": self.name,
            "total": self.total,
            "maximum": self.maximum,
            "threshold": self.threshold,
            "passed": self.passed,
            "items": [
                {
                    "name": i.name,
                    "score": i.score,
                    "maximum": i.maximum,
                    "computed": i.computed,
                    "basis": i.basis,
                }
                for i in self.items
            ],
        }


@dataclass(frozen=True, slots=True)
class LatestVitals:
    """The newest reliable values the computed items are judged on (None: nothing reliable)."""

    heart_rate: float | None = None
    spo2: float | None = None
    nibp_sys: float | None = None
    nibp_dia: float | None = None
    heart_rate_at: float | None = None
    spo2_at: float | None = None
    nibp_at: float | None = None


def latest_vitals(
    readings: Iterable[Reading], heart_rate_parameter: Parameter = Parameter.HR
) -> LatestVitals:
    """Newest reliable heart rate, SpO2 and cuff values from a stream of readings.

    Heart rate comes from ``heart_rate_parameter`` (the baseline's), falling back to the other
    of hr/pr when that one has no reliable value.
    """
    newest: dict[Parameter, Reading] = {}
    for r in readings:
        if r.reliable and r.parameter is not Parameter.PLETH:
            old = newest.get(r.parameter)
            if old is None or r.t >= old.t:
                newest[r.parameter] = r
    other = Parameter.PR if heart_rate_parameter is Parameter.HR else Parameter.HR
    hr = newest.get(heart_rate_parameter) or newest.get(other)
    spo2 = newest.get(Parameter.SPO2)
    sys_r, dia_r = newest.get(Parameter.NIBP_SYS), newest.get(Parameter.NIBP_DIA)
    nibp_at = max((r.t for r in (sys_r, dia_r) if r is not None), default=None)
    return LatestVitals(
        heart_rate=hr.value if hr else None,
        spo2=spo2.value if spo2 else None,
        nibp_sys=sys_r.value if sys_r else None,
        nibp_dia=dia_r.value if dia_r else None,
        heart_rate_at=hr.t if hr else None,
        spo2_at=spo2.t if spo2 else None,
        nibp_at=nibp_at,
    )


def deviation(value: float, baseline: float) -> float:
    """Relative distance from baseline, either direction (0.25 = 25 % above or below)."""
    return abs(value - baseline) / baseline


def _entered(name: str, value: int) -> ItemScore:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2:
        raise ScoreInputError(f"{name.replace('_', '/')} must be scored 0, 1 or 2, not {value!r}")
    return ItemScore(name, value, 2, False, "entered by the nurse")


def _bp_deviation(vitals: LatestVitals, baseline: Baseline | None) -> tuple[float | None, str]:
    """Largest deviation of systolic or diastolic from baseline, with a description."""
    if baseline is None:
        return None, "no baseline"
    if vitals.nibp_sys is None or vitals.nibp_dia is None:
        return None, "no reliable blood pressure"
    dev_sys = deviation(vitals.nibp_sys, baseline.nibp_sys)
    dev_dia = deviation(vitals.nibp_dia, baseline.nibp_dia)
    text = (
        f"BP {pressure_text(vitals.nibp_sys, vitals.nibp_dia)} vs baseline "
        f"{pressure_text(baseline.nibp_sys, baseline.nibp_dia)}: "
        f"{100 * max(dev_sys, dev_dia):.0f} % off"
    )
    return max(dev_sys, dev_dia), text


def aldrete_circulation(vitals: LatestVitals, baseline: Baseline | None) -> ItemScore:
    """Blood pressure within 20 % of baseline = 2, 20-49 % = 1, 50 % or more = 0.

    The larger of the systolic and diastolic deviations counts, in either direction; no
    reliable value (or no baseline) scores 0, since the item cannot be shown to be met.
    """
    dev, text = _bp_deviation(vitals, baseline)
    if dev is None:
        return ItemScore("circulation", 0, 2, True, text)
    score = 2 if dev <= ALDRETE_BP_FULL else 1 if dev < ALDRETE_BP_NONE else 0
    return ItemScore("circulation", score, 2, True, text)


def aldrete_spo2(vitals: LatestVitals, on_oxygen: bool) -> ItemScore:
    """SpO2 above 92 % on room air = 2; 90 % or more with oxygen (or 90-92 % on room air) = 1; below 90 % = 0.

    Where 90-92 % is reached on room air the patient would need oxygen to be sure of staying above
    90 %, so it scores 1, not 2.
    """
    if vitals.spo2 is None:
        return ItemScore("SpO2", 0, 2, True, "no reliable SpO2")
    air = "on oxygen" if on_oxygen else "on room air"
    text = f"SpO2 {vitals.spo2:g} % {air}"
    if vitals.spo2 < ALDRETE_SPO2_FLOOR:
        return ItemScore("SpO2", 0, 2, True, text)
    if not on_oxygen and vitals.spo2 > ALDRETE_SPO2_ROOM_AIR:
        return ItemScore("SpO2", 2, 2, True, text)
    return ItemScore("SpO2", 1, 2, True, text)


def modified_aldrete(
    vitals: LatestVitals,
    baseline: Baseline | None,
    *,
    activity: int,
    respiration: int,
    consciousness: int,
    on_oxygen: bool = False,
    pass_mark: int = ALDRETE_PASS,
) -> ScoreResult:
    """Modified Aldrete (0-10, discharge at ``pass_mark``: 9 or more unless the protocol asks otherwise)."""
    items = (
        _entered("activity", activity),
        _entered("respiration", respiration),
        aldrete_circulation(vitals, baseline),
        _entered("consciousness", consciousness),
        aldrete_spo2(vitals, on_oxygen),
    )
    return ScoreResult("Modified Aldrete", items, pass_mark)


def padss_vital_signs(vitals: LatestVitals, baseline: Baseline | None) -> ItemScore:
    """BP and pulse within 20 % of baseline = 2, 20-40 % = 1, more than 40 % = 0."""
    dev, text = _bp_deviation(vitals, baseline)
    if dev is None:
        return ItemScore("vital signs", 0, 2, True, text)
    if vitals.heart_rate is None:
        return ItemScore("vital signs", 0, 2, True, "no reliable heart rate")
    assert baseline is not None
    dev_hr = deviation(vitals.heart_rate, baseline.heart_rate)
    worst = max(dev, dev_hr)
    text += f"; HR {vitals.heart_rate:g} vs {baseline.heart_rate:g}: {100 * dev_hr:.0f} % off"
    score = 2 if worst <= PADSS_VITALS_FULL else 1 if worst <= PADSS_VITALS_PARTIAL else 0
    return ItemScore("vital signs", score, 2, True, text)


def padss(
    vitals: LatestVitals,
    baseline: Baseline | None,
    *,
    activity: int,
    nausea_vomiting: int,
    pain: int,
    bleeding: int,
    pass_mark: int = PADSS_PASS,
) -> ScoreResult:
    """Post-Anesthetic Discharge Scoring System (0-10, discharge at ``pass_mark``: 9 or more by default)."""
    items = (
        padss_vital_signs(vitals, baseline),
        _entered("activity", activity),
        _entered("nausea_vomiting", nausea_vomiting),
        _entered("pain", pain),
        _entered("bleeding", bleeding),
    )
    return ScoreResult("PADSS", items, pass_mark)


@dataclass(frozen=True, slots=True)
class DischargeMarks:
    """What the session's protocol asks of discharge scoring (its ``[discharge]`` table)."""

    aldrete_min: int = ALDRETE_PASS
    padss_min: int = PADSS_PASS
    escort_required: bool = True


#: The marks where the protocol says nothing else (9 of 10 for both scores, an escort required).
USUAL_MARKS: Final = DischargeMarks()


@dataclass(frozen=True, slots=True)
class NurseAssessment:
    """What the nurse observes and enters at discharge (each scored item 0-2)."""

    aldrete_activity: int
    aldrete_respiration: int
    aldrete_consciousness: int
    on_oxygen: bool
    padss_activity: int
    padss_nausea_vomiting: int
    padss_pain: int
    padss_bleeding: int
    escort_present: bool
    no_driving_acknowledged: bool

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NurseAssessment:
        """From stored or form values; missing items raise with their names."""
        missing = [name for name in cls.__dataclass_fields__ if name not in data]
        if missing:
            raise ScoreInputError("discharge items not entered: " + ", ".join(missing))
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class DischargeResult:
    """The full discharge decision with everything it rests on."""

    aldrete: ScoreResult
    padss: ScoreResult
    escort_present: bool
    no_driving_acknowledged: bool
    vitals: LatestVitals
    #: False where the protocol lets a patient leave without an escort.
    escort_required: bool = True

    @property
    def passed(self) -> bool:
        """Both scores pass, an escort is present (where required) and the no-driving instruction was
        acknowledged."""
        scores = self.aldrete.passed and self.padss.passed
        escort = self.escort_present or not self.escort_required
        return scores and escort and self.no_driving_acknowledged

    @property
    def reasons(self) -> tuple[str, ...]:
        """Everything that stands in the way of discharge (empty when ready)."""
        out = [*self.aldrete.reasons, *self.padss.reasons]
        if self.escort_required and not self.escort_present:
            out.append("no escort present")
        if not self.no_driving_acknowledged:
            out.append("no-driving instruction not acknowledged")
        return tuple(out)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, suitable as the detail of a ``discharge_scored`` timeline event."""
        return {
            "aldrete": self.aldrete.as_dict(),
            "padss": self.padss.as_dict(),
            "escort_present": self.escort_present,
            "escort_required": self.escort_required,
            "no_driving_acknowledged": self.no_driving_acknowledged,
            "passed": self.passed,
            "reasons": list(self.reasons),
        }


def assess_discharge(
    readings: Iterable[Reading],
    baseline: Baseline | None,
    nurse: NurseAssessment,
    marks: DischargeMarks = USUAL_MARKS,
) -> DischargeResult:
    """Score discharge from the session's readings (latest reliable values) and the nurse's entries,
    against the protocol's pass marks and escort rule (``marks``)."""
    hr_param = baseline.heart_rate_parameter if baseline is not None else Parameter.HR
    vitals = latest_vitals(readings, hr_param)
    return DischargeResult(
        aldrete=modified_aldrete(
            vitals,
            baseline,
            activity=nurse.aldrete_activity,
            respiration=nurse.aldrete_respiration,
            consciousness=nurse.aldrete_consciousness,
            on_oxygen=nurse.on_oxygen,
            pass_mark=marks.aldrete_min,
        ),
        padss=padss(
            vitals,
            baseline,
            activity=nurse.padss_activity,
            nausea_vomiting=nurse.padss_nausea_vomiting,
            pain=nurse.padss_pain,
            bleeding=nurse.padss_bleeding,
            pass_mark=marks.padss_min,
        ),
        escort_present=nurse.escort_present,
        no_driving_acknowledged=nurse.no_driving_acknowledged,
        vitals=vitals,
        escort_required=marks.escort_required,
    )


__all__ = [
    "USUAL_MARKS",
    "DischargeMarks",
    "DischargeResult",
    "ItemScore",
    "LatestVitals",
    "NurseAssessment",
    "ScoreInputError",
    "ScoreResult",
    "assess_discharge",
    "latest_vitals",
    "modified_aldrete",
    "padss",
]
