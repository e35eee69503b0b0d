"""The reading model: units, flags, plausibility."""

from __future__ import annotations

import math

import pytest

from drivers.core.readings import (
    UNITS,
    Flag,
    Parameter,
    Reading,
    flags_text,
    is_plausible,
    iso_utc,
    parse_flags,
)


def test_every_parameter_has_a_ucum_unit() -> None:
    assert UNITS[Parameter.HR] == "/min"
    assert UNITS[Parameter.PR] == "/min"
    assert UNITS[Parameter.SPO2] == "%"
    for p in (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN):
        assert UNITS[p] == "mm[Hg]"
    assert set(UNITS) == set(Parameter)


def test_reading_unit_and_status_text() -> None:
    r = Reading(10.0, Parameter.SPO2, 97.0, "dev", frozenset({Flag.LOW_PERFUSION, Flag.ARTIFACT}))
    assert r.unit == "%"
    assert r.status == "artifact,low_perfusion"
    assert not r.reliable  # artifact makes it untrustworthy


def test_missing_value_is_not_reliable_and_not_a_number() -> None:
    r = Reading(10.0, Parameter.SPO2, None, "dev", frozenset({Flag.SENSOR_OFF}))
    assert r.value is None
    assert not r.reliable


def test_low_perfusion_alone_keeps_the_value_usable() -> None:
    assert Reading(1.0, Parameter.PR, 70.0, "d", frozenset({Flag.LOW_PERFUSION})).reliable


def test_flags_round_trip_and_unknown_names_are_ignored() -> None:
    flags = frozenset({Flag.DEMO_DATA, Flag.QUESTIONABLE})
    assert parse_flags(flags_text(flags)) == flags
    assert parse_flags("questionable,not_a_flag") == frozenset({Flag.QUESTIONABLE})
    assert parse_flags("") == frozenset()
    assert parse_flags(None) == frozenset()


@pytest.mark.parametrize(
    ("parameter", "value", "ok"),
    [
        (Parameter.SPO2, 100.0, True),
        (Parameter.SPO2, 100.5, False),
        (Parameter.SPO2, -1.0, False),
        (Parameter.HR, 511.0, False),
        (Parameter.HR, 72.0, True),
        (Parameter.NIBP_SYS, math.nan, False),
        (Parameter.NIBP_SYS, math.inf, False),
        (Parameter.NIBP_SYS, None, True),
    ],
)
def test_plausible_ranges(parameter: Parameter, value: float | None, ok: bool) -> None:
    assert is_plausible(parameter, value) is ok


def test_iso_time_carries_utc_offset() -> None:
    assert iso_utc(0.0) == "1970-01-01T00:00:00.000+00:00"
