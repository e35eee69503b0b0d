"""Parsing `--plan`."""

from __future__ import annotations

import pytest

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
    ],
)
def test_bad_plans_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_plan(text)
