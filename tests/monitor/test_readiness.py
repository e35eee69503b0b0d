"""When the infusion may start and the session may complete: the baseline rule, the checks, overrides."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from monitor.plan import SessionPlan
from monitor.readiness import (
    CareRules,
    OverrideRequired,
    discharge_check,
    infusion_start_check,
    next_step,
)
from monitor.session import Phase, Session

T0 = 1_700_000_000.0
RULES = CareRules()


def cuff(session: Session, t: float, sys: float | None, dia: float | None, flags: Iterable[Flag] = ()) -> None:
    for parameter, value in ((Parameter.NIBP_SYS, sys), (Parameter.NIBP_DIA, dia)):
        session.observe(Reading(t, parameter, value, "test", frozenset(flags)))


def vitals(session: Session, t: float, spo2: float | None = 98, hr: float = 70) -> None:
    session.observe(Reading(t, Parameter.HR, hr, "test"))
    session.observe(Reading(t, Parameter.SPO2, spo2, "test"))


def in_baseline(cuffs: Iterable[tuple[float | None, float | None, tuple[Flag, ...]]]) -> Session:
    session = Session("s", T0, SessionPlan(5, 40, 30))
    session.start_baseline(T0 + 1)
    vitals(session, T0 + 2)
    for i, (sys, dia, flags) in enumerate(cuffs):
        cuff(session, T0 + 10 + 40 * i, sys, dia, flags)
    return session


# cuffs in the baseline phase (systolic, diastolic, flags), the baseline pressure expected
BASELINE_TABLE = [
    ([(100, 70, ()), (150, 110, ()), (120, 80, ())], (120, 80)),  # median, not mean (which is 123/87)
    ([(120, 80, ()), (190, 118, (Flag.ARTIFACT,))], (120, 80)),  # a flagged cuff does not count
    ([(120, 80, ()), (None, None, (Flag.MEASUREMENT_FAILED,))], (120, 80)),  # nor a failed one
    ([(118, 78, ()), (124, 84, ())], (121, 81)),
]


@pytest.mark.parametrize(("cuffs", "expected"), BASELINE_TABLE)
def test_baseline_pressure_is_the_median_of_the_valid_cuffs(cuffs, expected) -> None:
    session = in_baseline(cuffs)
    session.advance(T0 + 400)
    session.start_infusion()
    assert session.baseline is not None
    assert (session.baseline.nibp_sys, session.baseline.nibp_dia) == expected


def test_only_failed_or_flagged_cuffs_are_no_baseline() -> None:
    session = in_baseline([(None, None, (Flag.MEASUREMENT_FAILED,)), (150, 95, (Flag.ARTIFACT,))])
    assert "blood pressure (NIBP)" in session.baseline_missing()


# seconds into the baseline, cuffs, high alarms on screen, blocker codes expected
START_TABLE = [
    (200, [(120, 80, ()), (122, 82, ())], (), set()),
    (60, [(120, 80, ())], (), {"baseline_too_short"}),
    (200, [(170, 90, ()), (166, 92, ())], (), {"baseline_bp_hold"}),  # median 168 >= 165
    (200, [(140, 100, ())], (), {"baseline_bp_hold"}),  # diastolic 100 >= 100
    (200, [(120, 80, ())], ("*** SpO2 85 < 90 %",), {"high_alarm"}),
    (200, [(100, 70, ()), (150, 110, ())], (), {"baseline_cuffs_disagree"}),  # 125/90 would be neither
    (200, [(100, 70, ()), (150, 110, ()), (104, 72, ())], (), set()),  # the third sets it: 104/72
    (200, [(120, 80, ()), (138, 92, ())], (), set()),  # 18/12 apart: close enough
    (60, [], (), {"baseline_incomplete", "baseline_too_short"}),
]


@pytest.mark.parametrize(("elapsed", "cuffs", "high", "blockers"), START_TABLE)
def test_infusion_start_check(elapsed, cuffs, high, blockers) -> None:
    session = in_baseline(cuffs)
    session.advance(T0 + 1 + elapsed)
    check = infusion_start_check(session, RULES, high)
    assert {b.code for b in check.blockers} == blockers
    assert check.ready is (not blockers)
    if "baseline_incomplete" not in blockers:
        assert check.baseline is not None, "the confirmation shows the baseline it would use"
    assert next_step(Phase.BASELINE, check) == ("start_infusion" if not blockers else None)


def test_a_blocked_start_needs_a_reason_and_a_missing_baseline_cannot_be_overridden() -> None:
    session = in_baseline([(170, 104, ())])
    session.advance(T0 + 300)
    check = infusion_start_check(session, RULES)
    with pytest.raises(OverrideRequired, match="hold threshold"):
        check.enforce(None)
    with pytest.raises(OverrideRequired):
        check.enforce("   ")
    assert check.enforce("physician: usual for this patient") == {
        "override_reason": "physician: usual for this patient",
        "overridden": ["baseline_bp_hold"],
    }
    empty = in_baseline([])
    empty.advance(T0 + 300)
    with pytest.raises(OverrideRequired, match="baseline incomplete"):
        infusion_start_check(empty, RULES).enforce("in a hurry")


def in_recovery(minutes: float) -> Session:
    session = in_baseline([(120, 80, ())])
    session.advance(T0 + 300)
    session.start_infusion()
    session.start_recovery(T0 + 300 + 40 * 60)
    session.advance(T0 + 300 + 40 * 60 + minutes * 60)
    return session


# minutes into recovery, cuff age (s, None: none), SpO2 sent as: age (s) and whether the newest is dashes,
# high alarms, blocker codes expected
DISCHARGE_TABLE = [
    (31, 60, (5, False), (), set()),
    (1, 60, (5, False), (), {"recovery_too_short"}),
    (31, 3600, (5, False), (), {"nibp_stale"}),
    (31, 60, (90, False), (), {"spo2_stale"}),
    (31, 60, (5, True), (), set()),  # dashes after a valid value 5 s ago: the valid one counts
    (31, 60, (5, False), ("*** HR 38 < 50 /min",), {"high_alarm"}),
    (1, 2000, (90, False), ("***",), {"recovery_too_short", "nibp_stale", "spo2_stale", "high_alarm"}),
]


@pytest.mark.parametrize(("minutes", "cuff_age", "spo2", "high", "blockers"), DISCHARGE_TABLE)
def test_discharge_check(minutes, cuff_age, spo2, high, blockers) -> None:
    session = in_recovery(minutes)
    now = session.now
    cuff(session, now - cuff_age, 125, 82)
    spo2_age, dashes_after = spo2
    vitals(session, now - spo2_age)
    if dashes_after:
        vitals(session, now - 1, spo2=None)
    check = discharge_check(session, RULES, high, now)
    assert {b.code for b in check.blockers} == blockers
    ages = {v.name: v for v in check.values}
    assert ages["NIBP"].age_s == pytest.approx(cuff_age)
    assert ages["SpO2"].age_s == pytest.approx(spo2_age)
    assert next_step(Phase.RECOVERY, check) == ("complete" if not blockers else None)


def test_discharge_is_refused_outside_recovery() -> None:
    session = in_baseline([(120, 80, ())])
    check = discharge_check(session, RULES)
    assert not check.ready and not check.overridable


@pytest.mark.parametrize(("no_active_high_alarm", "blocked"), [(True, True), (False, False)])
def test_the_protocol_says_whether_a_high_alarm_stops_completion(no_active_high_alarm, blocked) -> None:
    from monitor.protocols import load_protocol

    iv = load_protocol("ketamine-iv")
    discharge = dataclasses.replace(iv.discharge, no_active_high_alarm=no_active_high_alarm)
    rules = dataclasses.replace(iv, discharge=discharge).care_rules(RULES)
    session = in_recovery(31)
    cuff(session, session.now - 60, 125, 82)
    vitals(session, session.now - 5)
    check = discharge_check(session, rules, ("*** HR 38 < 50 /min",))
    assert {b.code for b in check.blockers} == ({"high_alarm"} if blocked else set())


def _session_in(phase: Phase) -> Session:
    if phase is Phase.SETUP:
        return Session("s", T0, SessionPlan(5, 40, 30))
    if phase is Phase.BASELINE:
        session = in_baseline([])
        session.advance(T0 + 61)
        return session
    if phase is Phase.INFUSION:
        session = in_baseline([(120, 80, ())])
        session.advance(T0 + 300)
        session.start_infusion()
        return session
    return in_recovery(1)


# protocol, phase the session is in, the step's check, the blocker texts expected (in order), with the
# protocol's rules as the recorder asks them (its names of the phases and its numbers)
WORDS_TABLE = [
    ("ketamine-iv", Phase.SETUP, infusion_start_check, ["take a baseline first: start the baseline phase"]),
    ("esketamine-nasal", Phase.SETUP, infusion_start_check, ["take a baseline first: start the pre-dose phase"]),
    ("ketamine-iv", Phase.RECOVERY, infusion_start_check, ["infusion cannot start from the recovery phase"]),
    ("esketamine-nasal", Phase.RECOVERY, infusion_start_check, ["dosing cannot start from the observation phase"]),
    ("esketamine-nasal", Phase.BASELINE, infusion_start_check,
     ["baseline incomplete: missing blood pressure (NIBP)", "the pre-dose phase has run 1.0 min of the 5 min minimum"]),
    ("ketamine-iv", Phase.INFUSION, discharge_check, ["a session completes from recovery (now in infusion)"]),
    ("esketamine-nasal", Phase.INFUSION, discharge_check, ["a session completes from observation (now in dosing)"]),
    ("esketamine-nasal", Phase.RECOVERY, discharge_check,
     ["29.0 min of the 30 min planned observation left", "NIBP is 45.8 min old (at most 15 min for discharge)",
      "SpO2 is 46.0 min old (at most 1 min for discharge)"]),
]


def test_the_plans_recovery_is_called_planned_not_the_minimum() -> None:
    """An esketamine plan of 110 min observation said "27.8 min of the 110 min minimum observation left", where the
    protocol's minimum is 30 min."""
    from monitor.protocols import load_protocol

    session = Session("s", T0, SessionPlan(5, 5, 110))
    session.start_baseline(T0 + 1)
    vitals(session, T0 + 2)
    cuff(session, T0 + 10, 120, 80)
    session.advance(T0 + 300)
    session.start_infusion()
    session.start_recovery(T0 + 300 + 40 * 60)
    session.advance(T0 + 300 + 40 * 60 + 30 * 60)
    check = discharge_check(session, load_protocol("esketamine-nasal").care_rules(RULES))
    [held] = [b.text for b in check.blockers if b.code == "recovery_too_short"]
    assert held == "80.0 min of the 110 min planned observation left"


@pytest.mark.parametrize(("protocol", "phase", "check", "texts"), WORDS_TABLE)
def test_blockers_name_the_phases_as_the_protocol_does(protocol, phase, check, texts) -> None:
    from monitor.protocols import load_protocol

    session = _session_in(phase)
    result = check(session, load_protocol(protocol).care_rules(RULES))
    assert [b.text for b in result.blockers] == texts
