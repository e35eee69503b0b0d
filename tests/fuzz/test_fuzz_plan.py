"""The ``--plan`` parser: any text gives a valid plan or a PlanError, never a crash or an odd plan."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from monitor.plan import PlanError, SessionPlan, parse_plan
from tests.fuzz.attempt import attempt

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e309", "0", "-0", "0x10", "1_0", "٣", "½", "1,5"]),
)
NAMES = st.one_of(st.sampled_from(["baseline", "infusion", "recovery", "BASELINE", " Infusion ", "setup", ""]),
                  st.text(max_size=12))
PARTS = st.builds(lambda n, sep, v: f"{n}{sep}{v}", NAMES, st.sampled_from([":", "", "::", "=", " : "]), NUMBERS)
PLAN_TEXT = st.one_of(st.text(), st.lists(PARTS, max_size=5).map(",".join),
                      st.lists(PARTS, max_size=5).flatmap(lambda p: st.sampled_from([",", ";", ", ", ",,"]).map(
                          lambda sep: sep.join(p))))


def _check(plan: SessionPlan) -> None:
    for minutes in (plan.baseline_min, plan.infusion_min, plan.recovery_min):
        assert math.isfinite(minutes) and minutes > 0
    # The plan's own text reads back as the same plan.
    assert parse_plan(plan.text()) == plan


@given(PLAN_TEXT)
def test_any_plan_text_gives_a_plan_or_a_plan_error(text: str) -> None:
    plan, error = attempt(parse_plan, text, expected=PlanError)
    if error is not None:
        assert str(error), "a plan error must say what is wrong"
        return
    _check(plan)
