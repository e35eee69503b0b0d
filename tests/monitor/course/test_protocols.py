"""Protocol files: the shipped ones load, and a broken file names its line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.core.readings import Parameter, Reading
from monitor.checklist import ChecklistItem
from monitor.dose import DoseUnit
from monitor.protocols import (
    SHIPPED,
    Anchor,
    Measure,
    PhaseRule,
    ProtocolError,
    available,
    check_states,
    load_protocol,
    parse_protocol,
    shipped_text,
)
from monitor.readiness import CareRules
from monitor.session import EventKind, Phase, SessionEvent


def test_shipped_protocols_load_with_todays_iv_behaviour() -> None:
    iv = load_protocol("ketamine-iv")
    assert (iv.plan().baseline_min, iv.plan().infusion_min, iv.plan().recovery_min) == (5, 40, 30)
    assert iv.phases[Phase.INFUSION].min_min == 40 and iv.phases[Phase.INFUSION].max_min == 60
    assert iv.cuff.infusion_s == 300 and iv.cuff.recovery_s == 900
    assert iv.dose.unit is DoseUnit.MG_PER_KG and iv.dose.default == 0.5
    assert not iv.rems
    nasal = load_protocol("esketamine-nasal")
    assert nasal.rems and nasal.dose.allowed == (56.0, 84.0)
    assert nasal.discharge.minimum_observation_min == 120
    assert nasal.discharge.observation_from is Anchor.INFUSION_START
    assert nasal.check("bp_40_min").at_min == 40
    assert {c.measure for c in nasal.checks} >= {Measure.NIBP, Measure.SEDATION, Measure.DISSOCIATION,
                                                  Measure.RESPIRATION}
    assert ChecklistItem.PREGNANCY in nasal.checklist.required
    assert set(available()) >= set(SHIPPED)


def test_each_protocol_names_its_phases() -> None:
    assert load_protocol("esketamine-nasal").labels() == {
        Phase.SETUP: "setup", Phase.BASELINE: "pre-dose", Phase.INFUSION: "dosing",
        Phase.RECOVERY: "observation", Phase.COMPLETE: "complete",
    }
    assert load_protocol("ketamine-iv").labels() == {phase: phase.value for phase in Phase}


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [
        (40, 60, "40–60 min"),
        (0, 20, "at most 20 min"),
        (None, 20, "at most 20 min"),
        (30, None, "at least 30 min"),
        (2.5, None, "at least 2.5 min"),
        (None, None, ""),
        (0, None, ""),
    ],
)
def test_a_phases_allowed_length_in_words(low: float | None, high: float | None, text: str) -> None:
    assert PhaseRule(Phase.INFUSION, "infusion", 40, low, high).bounds_text() == text


def test_the_protocols_numbers_win_over_the_profiles_for_readiness() -> None:
    profile = CareRules(baseline_min_s=60.0, hold_sys=150.0, discharge_nibp_max_age_s=120.0,
                        discharge_spo2_max_age_s=30.0)
    nasal = load_protocol("esketamine-nasal")
    rules = nasal.care_rules(profile)
    # The protocol's discharge vitals age (15 min) and baseline minimum replace the profile's ...
    assert rules.discharge_nibp_max_age_s == nasal.discharge.vitals_max_age_min * 60 == 900.0
    assert nasal.phases[Phase.BASELINE].min_min is not None
    assert rules.baseline_min_s == nasal.phases[Phase.BASELINE].min_min * 60
    # ... and what the protocol does not give stays the profile's.
    assert (rules.hold_sys, rules.discharge_spo2_max_age_s) == (150.0, 30.0)
    # A protocol without a baseline minimum keeps the profile's.
    iv = parse_protocol(_without_baseline_minimum(shipped_text("ketamine-iv")), "ketamine-iv")
    assert iv.phases[Phase.BASELINE].min_min is None
    assert iv.care_rules(profile).baseline_min_s == 60.0


def _without_baseline_minimum(text: str) -> str:
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == "[phases.baseline]")
    end = next((n for n in range(start + 1, len(lines)) if lines[n].startswith("[")), len(lines))
    kept = [line for line in lines[start:end] if not line.startswith("min_min")]
    return "\n".join(lines[:start] + kept + lines[end:]) + "\n"


def _broken(replace: str, by: str, name: str = "ketamine-iv") -> str:
    text = shipped_text(name)
    assert replace in text
    return text.replace(replace, by, 1)


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if fragment in line)


@pytest.mark.parametrize(
    ("replace", "by", "field", "fragment"),
    [
        ("max_min = 60", "max_min = 30", "phases.infusion.max_min", "max_min = 30"),
        ("recovery_min = 15", "recovery_min = 0.5", "cuff.recovery_min", "recovery_min = 0.5"),
        ('measure = "nibp"', 'measure = "bloodpressure"', "checks.0.measure", 'measure = "bloodpressure"'),
        ('required = ["fasting"', 'required = ["fastingg"', "checklist.required", 'required = ["fastingg"'),
        ("default = 0.5", "default = 5", "dose.default", "default = 5"),
        ('observation_from = "recovery_start"', 'observation_from = "discharge"', "discharge.observation_from",
         "observation_from"),
        ("planned_sessions = 6", "planned_sessions = 0", "course.planned_sessions", "planned_sessions = 0"),
        ('when = "infusion_end"', 'when = "later"', "scores.3.when", 'when = "later"'),
        ("interval_days = 2.5", "interval_days = 2.5\nweeks = 3", "course.weeks", "weeks = 3"),
    ],
)
def test_errors_name_the_line_and_the_field(replace: str, by: str, field: str, fragment: str) -> None:
    text = _broken(replace, by)
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text, "clinic.toml")
    message = str(caught.value)
    assert message.startswith(f"clinic.toml: line {_line_of(text, fragment)}, field {field}:"), message


def test_second_check_with_the_same_id_is_named() -> None:
    text = _broken('id = "bp_before_discharge"', 'id = "bp_before_infusion"')
    with pytest.raises(ProtocolError, match=r"line \d+, field checks\.1\.id: 'bp_before_infusion' is used twice"):
        parse_protocol(text, "x.toml")


def test_syntax_error_and_missing_section() -> None:
    with pytest.raises(ProtocolError, match=r"x\.toml: .*line 1"):
        parse_protocol("[protocol\nname=1", "x.toml")
    text = shipped_text("ketamine-iv")
    cut = text[: text.index("[dose]")] + text[text.index("[discharge]") :]
    with pytest.raises(ProtocolError, match="field dose: missing section"):
        parse_protocol(cut, "x.toml")


def test_clinic_folder_overrides_and_unknown_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFUSION_MONITOR_PROTOCOLS", str(tmp_path))
    own = shipped_text("ketamine-iv").replace('name = "ketamine-iv"', 'name = "ketamine-slow"').replace(
        "planned_min = 40", "planned_min = 60"
    )
    (tmp_path / "ketamine-slow.toml").write_text(own, encoding="utf-8")
    (tmp_path / "broken.toml").write_text("[protocol]\nname = 3\n", encoding="utf-8")
    assert load_protocol("ketamine-slow").plan().infusion_min == 60
    assert "ketamine-slow" in available() and "broken" not in available()
    with pytest.raises(ProtocolError, match=r"broken.toml: line 2, field protocol.name"):
        load_protocol("broken")
    with pytest.raises(ProtocolError, match=r"no protocol named 'nope'; available: .*ketamine-slow"):
        load_protocol("nope")
    with pytest.raises(ProtocolError, match="cannot read the protocol"):
        load_protocol(str(tmp_path / "absent.toml"))


def _cuff(t: float, sys: float, dia: float) -> list[Reading]:
    return [Reading(t, Parameter.NIBP_SYS, sys, "x"), Reading(t + 0.5, Parameter.NIBP_DIA, dia, "x")]


def test_timed_checks_done_missed_and_late() -> None:
    nasal = load_protocol("esketamine-nasal")
    start = 10_000.0
    events = [SessionEvent(start, EventKind.INFUSION_STARTED, Phase.INFUSION)]
    readings = _cuff(start - 300, 128, 82) + _cuff(start + 38 * 60, 141, 88)
    states = {s.check.id: s for s in check_states(nasal, events, readings, start + 45 * 60)}
    assert states["bp_before_dosing"].value == (128, 82) and not states["bp_before_dosing"].missed
    assert states["bp_40_min"].value == (141, 88)
    # The sedation check's window closes at 55 min: not yet missed at 45, missed at 56.
    assert not states["sedation_40_min"].missed and states["sedation_40_min"].done_at is None
    later = {s.check.id: s for s in check_states(nasal, events, readings, start + 56 * 60)}
    assert later["sedation_40_min"].missed and later["sedation_40_min"].done_late_at is None
    scored = [*events, SessionEvent(start + 58 * 60, EventKind.SCORE, Phase.RECOVERY, detail={"scale": "MOAA/S",
                                                                                             "value": 5})]
    late = {s.check.id: s for s in check_states(nasal, scored, readings, start + 60 * 60)}
    assert late["sedation_40_min"].missed and late["sedation_40_min"].done_late_at == start + 58 * 60
    # A flagged cuff value does not answer a check.
    flagged = [Reading(start - 200, Parameter.NIBP_SYS, 120, "x", frozenset({"artifact"})),  # type: ignore[arg-type]
               Reading(start - 200, Parameter.NIBP_DIA, 80, "x")]
    before = {s.check.id: s for s in check_states(nasal, events, flagged, start + 60)}
    assert before["bp_before_dosing"].missed


def _clinic_discharge(aldrete: int, padss_mark: int, escort: bool, high_blocks: bool) -> str:
    """The shipped IV protocol with a clinic's own ``[discharge]`` marks."""
    text = _broken("aldrete_min = 9", f"aldrete_min = {aldrete}")
    text = text.replace("padss_min = 9", f"padss_min = {padss_mark}", 1)
    text = text.replace("escort_required = true", f"escort_required = {str(escort).lower()}", 1)
    return text.replace("no_active_high_alarm = true", f"no_active_high_alarm = {str(high_blocks).lower()}", 1)


FULL_MARKS = {"aldrete_activity": 2, "aldrete_respiration": 2, "aldrete_consciousness": 2, "on_oxygen": False,
              "padss_activity": 2, "padss_nausea_vomiting": 2, "padss_pain": 2, "padss_bleeding": 2,
              "escort_present": True, "no_driving_acknowledged": True}


# protocol marks (Aldrete, PADSS, escort required), what the nurse changes from full marks, passed, reasons
DISCHARGE_MARKS_TABLE = [
    ((9, 9, True), {"aldrete_activity": 1}, True, ()),
    ((10, 9, True), {"aldrete_activity": 1}, False, ("Modified Aldrete 9/10, below 10",)),
    ((10, 9, True), {}, True, ()),
    ((9, 10, True), {"padss_pain": 1}, False, ("PADSS 9/10, below 10",)),
    ((9, 8, True), {"padss_pain": 1, "padss_activity": 1}, True, ()),
    ((9, 9, True), {"escort_present": False}, False, ("no escort present",)),
    ((9, 9, False), {"escort_present": False}, True, ()),
    ((9, 9, False), {"no_driving_acknowledged": False}, False, ("no-driving instruction not acknowledged",)),
]


@pytest.mark.parametrize(("marks", "changes", "passed", "reasons"), DISCHARGE_MARKS_TABLE)
def test_discharge_scoring_applies_the_protocols_marks(marks, changes, passed, reasons) -> None:
    from monitor.discharge import NurseAssessment, assess_discharge
    from monitor.session import Baseline

    aldrete, padss_mark, escort = marks
    protocol = parse_protocol(_clinic_discharge(aldrete, padss_mark, escort, True), "ketamine-iv")
    assert protocol.discharge.marks.aldrete_min == aldrete and protocol.discharge.marks.padss_min == padss_mark
    baseline = Baseline(taken_at=0.0, heart_rate=70.0, heart_rate_parameter=Parameter.HR, spo2=98.0,
                        nibp_sys=120.0, nibp_dia=80.0, nibp_mean=93.0)
    readings = [Reading(10.0, Parameter.NIBP_SYS, 120.0, "x"), Reading(10.0, Parameter.NIBP_DIA, 80.0, "x"),
                Reading(10.0, Parameter.SPO2, 98.0, "x"), Reading(10.0, Parameter.HR, 70.0, "x")]
    nurse = NurseAssessment.from_dict({**FULL_MARKS, **changes})
    result = assess_discharge(readings, baseline, nurse, protocol.discharge.marks)
    assert result.passed is passed
    assert tuple(r for r in result.reasons if ":" not in r and "/2" not in r) == reasons
    stored = result.as_dict()
    assert (stored["aldrete"]["threshold"], stored["padss"]["threshold"]) == (aldrete, padss_mark)
    assert stored["escort_required"] is escort and stored["passed"] is passed

