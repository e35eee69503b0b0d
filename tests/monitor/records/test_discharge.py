"""Discharge scoring: computed items at their band edges, nurse items, the overall decision."""

from __future__ import annotations

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from monitor.discharge import (
    LatestVitals,
    NurseAssessment,
    ScoreInputError,
    aldrete_circulation,
    aldrete_spo2,
    assess_discharge,
    latest_vitals,
    modified_aldrete,
    padss_vital_signs,
)
from monitor.session import Baseline

BASE = Baseline(
    taken_at=0.0,
    heart_rate=70.0,
    heart_rate_parameter=Parameter.HR,
    spo2=98.0,
    nibp_sys=120.0,
    nibp_dia=80.0,
    nibp_mean=93.0,
)
READY = NurseAssessment(
    aldrete_activity=2,
    aldrete_respiration=2,
    aldrete_consciousness=2,
    on_oxygen=False,
    padss_activity=2,
    padss_nausea_vomiting=2,
    padss_pain=2,
    padss_bleeding=2,
    escort_present=True,
    no_driving_acknowledged=True,
)


def vitals(
    sys_v: float | None = 120.0,
    dia_v: float | None = 80.0,
    hr: float | None = 70.0,
    spo2: float | None = 98.0,
) -> LatestVitals:
    return LatestVitals(heart_rate=hr, spo2=spo2, nibp_sys=sys_v, nibp_dia=dia_v)


@pytest.mark.parametrize(
    ("sys_v", "dia_v", "expected"),
    [
        (144.0, 80.0, 2),  # exactly 20 % above
        (96.0, 64.0, 2),  # exactly 20 % below
        (145.0, 80.0, 1),
        (120.0, 119.0, 1),  # diastolic 48.75 % above
        (179.0, 80.0, 1),  # 49.2 %
        (180.0, 80.0, 0),  # 50 %
        (60.0, 80.0, 0),  # 50 % below
    ],
)
def test_aldrete_circulation_bands(sys_v: float, dia_v: float, expected: int) -> None:
    item = aldrete_circulation(vitals(sys_v, dia_v), BASE)
    assert item.score == expected
    assert item.computed


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "expected"),
    [(93.0, False, 2), (92.0, False, 1), (95.0, True, 1), (90.0, True, 1), (89.0, True, 0), (89.0, False, 0)],
)
def test_aldrete_spo2(spo2: float, on_oxygen: bool, expected: int) -> None:
    assert aldrete_spo2(vitals(spo2=spo2), on_oxygen).score == expected


@pytest.mark.parametrize(
    ("sys_v", "hr", "expected"),
    [
        (144.0, 70.0, 2),
        (120.0, 84.0, 2),
        (168.0, 70.0, 1),
        (120.0, 98.0, 1),
        (169.0, 70.0, 0),
        (120.0, 99.0, 0),
    ],
)
def test_padss_vital_signs_bands(sys_v: float, hr: float, expected: int) -> None:
    assert padss_vital_signs(vitals(sys_v, 80.0, hr), BASE).score == expected


def test_missing_values_or_baseline_score_zero_with_a_reason() -> None:
    item = aldrete_circulation(vitals(sys_v=None), BASE)
    assert item.score == 0
    assert "no reliable blood pressure" in item.basis
    assert aldrete_circulation(vitals(), None).basis == "no baseline"
    assert padss_vital_signs(vitals(hr=None), BASE).score == 0
    assert aldrete_spo2(vitals(spo2=None), False).score == 0


def test_nurse_items_are_checked() -> None:
    with pytest.raises(ScoreInputError, match="activity"):
        modified_aldrete(vitals(), BASE, activity=3, respiration=2, consciousness=2)
    with pytest.raises(ScoreInputError, match="respiration"):
        modified_aldrete(vitals(), BASE, activity=2, respiration=True, consciousness=2)  # type: ignore[arg-type]
    with pytest.raises(ScoreInputError, match="escort_present"):
        NurseAssessment.from_dict({"aldrete_activity": 2})


def test_latest_reliable_values_are_judged() -> None:
    readings = [
        Reading(10.0, Parameter.NIBP_SYS, 200.0, "x"),
        Reading(10.0, Parameter.NIBP_DIA, 120.0, "x"),
        Reading(20.0, Parameter.NIBP_SYS, 126.0, "x"),
        Reading(20.0, Parameter.NIBP_DIA, 82.0, "x"),
        Reading(30.0, Parameter.NIBP_SYS, None, "x", frozenset({Flag.MEASUREMENT_FAILED})),
        Reading(25.0, Parameter.SPO2, 97.0, "x"),
        Reading(26.0, Parameter.SPO2, 60.0, "x", frozenset({Flag.ARTIFACT})),
        Reading(27.0, Parameter.PR, 75.0, "x"),
    ]
    latest = latest_vitals(readings, Parameter.HR)
    assert (latest.nibp_sys, latest.nibp_dia, latest.spo2) == (126.0, 82.0, 97.0)
    assert latest.heart_rate == 75.0  # no ECG value: the pulse rate stands in
    result = assess_discharge(readings, BASE, READY)
    assert result.aldrete.total == 10
    assert result.padss.total == 10
    assert result.passed
    assert result.reasons == ()


def test_not_ready_lists_every_reason() -> None:
    readings = [
        Reading(10.0, Parameter.NIBP_SYS, 150.0, "x"),  # 25 % above: circulation 1, PADSS vitals 1
        Reading(10.0, Parameter.NIBP_DIA, 80.0, "x"),
        Reading(10.0, Parameter.SPO2, 91.0, "x"),  # room air 91 %: 1
        Reading(10.0, Parameter.HR, 70.0, "x"),
    ]
    nurse = NurseAssessment.from_dict(
        {
            **{n: getattr(READY, n) for n in READY.__dataclass_fields__},
            "escort_present": False,
            "padss_pain": 1,
        }
    )
    result = assess_discharge(readings, BASE, nurse)
    assert result.aldrete.total == 8
    assert not result.aldrete.passed
    assert result.padss.total == 8
    assert not result.passed
    text = " | ".join(result.reasons)
    assert "Modified Aldrete 8/10, below 9" in text
    assert "circulation 1/2" in text
    assert "SpO2 1/2" in text
    assert "PADSS 8/10" in text
    assert "pain 1/2" in text
    assert "no escort present" in text
    assert "no-driving" not in text
    stored = result.as_dict()
    assert stored["passed"] is False
    assert stored["aldrete"]["items"][2] == {
        "name": "circulation",
        "score": 1,
        "maximum": 2,
        "computed": True,
        "basis": "BP 150/80 vs baseline 120/80: 25 % off",
    }


def test_the_blood_pressure_basis_reads_in_whole_mmhg() -> None:
    """A baseline that is the median of two cuffs holds a half (122.5/73); the form and report read 122/73, as the
    start-infusion question and the report's header do."""
    base = Baseline(0.0, 70.0, Parameter.HR, 98.0, 122.5, 73.0, 89.5)
    assert aldrete_circulation(vitals(123.5, 70.0), base).basis == "BP 124/70 vs baseline 122/73: 4 % off"
