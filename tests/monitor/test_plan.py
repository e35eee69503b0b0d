"""Parsing `--plan`."""

from __future__ import annotations

import pytest

from drivers.core.phases import PhaseTimes
from monitor.plan import PlanError, SessionPlan, parse_plan


def test_full_plan() -> None:
    assert parse_plan("baseline:5,infusion:40,recovery:30") == SessionPlan(5, 40, 30)


def test_partial_plan_keeps_defaults_and_accepts_fractions() -> None:
    plan = parse_plan(" infusion : 52.5 ")
    assert plan == SessionPlan(5, 52.5, 30)


def test_plan_text_round_trips() -> None:
    plan = SessionPlan(2, 45, 31)
    assert parse_plan(plan.text()) == plan


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("infusion", "NAME:MINUTES"),
        ("induction:5", "unknown phase 'induction'"),
        ("infusion:abc", "'abc' is not a number"),
        ("infusion:-4", "positive"),
        ("infusion:0", "positive"),
        ("infusion:nan", "positive"),
        ("infusion:40,infusion:50", "twice"),
        ("baseline:1000001", "longer than a day"),
        ("recovery:inf", "longer than a day"),
    ],
)
def test_bad_plans_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_plan(text)


@pytest.mark.parametrize("minutes", [1000.000001, 2.123456789, 0.1 + 0.2, 1e-7])
def test_plan_text_reads_back_exactly(minutes: float) -> None:
    # Found by the fuzz suite: six significant digits changed the plan stored with a session.
    plan = SessionPlan(minutes, 40, 30)
    assert parse_plan(plan.text()) == plan


def test_the_simulated_patient_defaults_follow_the_clinic_plan() -> None:
    assert SessionPlan().phase_times() == PhaseTimes()
    assert SessionPlan(2, 45, 31).phase_times() == PhaseTimes(baseline_min=2, infusion_min=45)
