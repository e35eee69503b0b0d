"""The clinic's alarm profile (TOML): any text gives a usable profile or a ProfileError naming the place.

Two kinds of input: text of any shape, and the shipped profile with lines changed, dropped or
repeated (the mistakes a clinic makes when editing it). A profile that is accepted must hold
only numbers in their documented ranges and must run the alarm engine without error.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from drivers.core.readings import Parameter, Reading
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.profile import (
    NO_DATA_RANGE_S,
    OTHER_DELAY_RANGE_S,
    SPO2_DELAY_RANGE_S,
    TIMING_RANGES_S,
    AlarmProfile,
    ProfileError,
    default_profile_text,
    parse_profile,
)
from monitor.plan import SessionPlan
from monitor.session import Phase, Session
from tests.fuzz.attempt import attempt
from tests.fuzz.toml_values import VALUES

DEFAULT_LINES = default_profile_text().splitlines()


@st.composite
def edited_profiles(draw: st.DrawFn) -> str:
    """The shipped profile with a few lines edited the way a person might get them wrong."""
    lines = list(DEFAULT_LINES)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["value", "drop", "repeat", "key", "text"]))
        line = lines[index]
        if edit == "value" and "=" in line:
            lines[index] = line.split("=", 1)[0] + "= " + draw(VALUES)
        elif edit == "drop":
            del lines[index]
        elif edit == "repeat":
            lines.insert(index, line)
        elif edit == "key" and "=" in line:
            lines[index] = draw(st.from_regex(r"[a-z_]{1,14}", fullmatch=True)) + " =" + line.split("=", 1)[1]
        else:
            lines[index] = draw(st.text(max_size=30))
        if not lines:
            break
    return "\n".join(lines)


PROFILES = st.one_of(edited_profiles(), st.text(max_size=300))


def _check(profile: AlarmProfile) -> None:
    for key, (low, high) in TIMING_RANGES_S.items():
        assert low <= getattr(profile, key) <= high
    for seconds in profile.no_data_s.values():
        assert NO_DATA_RANGE_S[0] <= seconds <= NO_DATA_RANGE_S[1]
    for phase in Phase:
        for rule in profile.rules_for(phase):
            assert math.isfinite(rule.limit) and rule.limit >= 0
            low, high = SPO2_DELAY_RANGE_S if "spo2" in rule.parameters and rule.direction < 0 else OTHER_DELAY_RANGE_S
            assert low <= rule.delay_s <= high
    # The engine runs with it: a few seconds of values, some of them alarming.
    engine = AlarmEngine(profile)
    session = Session("fuzz", 1000.0, SessionPlan())
    session.start_baseline(1000.0, "RN")
    for event in session.take_events():
        engine.on_event(event, session)
    for second, (hr, spo2) in enumerate([(70.0, 98.0), (40.0, 85.0), (160.0, 80.0), (70.0, 98.0)]):
        t = 1000.0 + 20 * second
        session.advance(t)
        for parameter, value in ((Parameter.HR, hr), (Parameter.SPO2, spo2)):
            reading = Reading(t, parameter, value, "fuzz")
            session.observe(reading)
            engine.observe(reading, session)
        engine.tick(t, session)
    changes = engine.take_changes()
    engine.snapshot(session.now)
    # With the shipped limits these values alarm; an edited profile may have switched rules off.
    assert all(change.priority for change in changes)


@given(PROFILES)
def test_any_profile_text_is_usable_or_refused_with_its_place(text: str) -> None:
    profile, error = attempt(parse_profile, text, "clinic.toml", expected=ProfileError)
    if error is not None:
        assert str(error).startswith("clinic.toml"), str(error)
        return
    _check(profile)
