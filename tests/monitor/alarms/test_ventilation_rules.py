"""Ventilation rules of the default profile (RR < 8 high, no breath for 20 s high, EtCO2 outside 25-50 medium)."""

from __future__ import annotations

import pytest

from drivers.core.readings import Flag
from monitor.alarms.model import AlarmKind, Priority

# rule, parameter, a value that breaches it, the nearest value that does not, priority, delay (s)
VENTILATION = [
    ("rr_low", "rr", 7, 8, Priority.HIGH, 10),
    ("no_breath", "rr", 0, 1, Priority.HIGH, 20),
    ("etco2_low", "etco2", 24, 25, Priority.MEDIUM, 10),
    ("etco2_high", "etco2", 51, 50, Priority.MEDIUM, 10),
]


@pytest.mark.parametrize(("rule", "parameter", "bad", "good", "priority", "delay"), VENTILATION)
def test_ventilation_rule_alarms_past_its_limit(bed, rule, parameter, bad, good, priority, delay):  # type: ignore[no-untyped-def]
    bed.hold(parameter, bad, delay - 2)
    assert bed.shown(rule) is None  # not before its delay
    bed.hold(parameter, bad, 2)
    alarm = bed.shown(rule)
    assert alarm is not None
    assert alarm.priority is priority
    assert alarm.kind is AlarmKind.PHYSIOLOGICAL
    # One rung of the RR ladder shows: no breath rather than "RR 0 < 8".
    assert [a.condition for a in bed.snapshot().active if a.parameter == parameter] == [rule]


@pytest.mark.parametrize(("rule", "parameter", "bad", "good", "priority", "delay"), VENTILATION)
def test_ventilation_rule_quiet_inside_its_limit(bed, rule, parameter, bad, good, priority, delay):  # type: ignore[no-untyped-def]
    bed.hold(parameter, good, delay + 5)
    assert bed.logged(rule) == []


def test_a_session_without_capnography_never_hears_of_it(bed) -> None:  # type: ignore[no-untyped-def]
    bed.hold("spo2", 97, 60)
    bed.hold("hr", 70, 60)
    assert not [a for a in bed.snapshot().active if a.parameter in ("rr", "etco2")]


def test_sampling_line_off_is_a_technical_alarm_not_a_breath(bed) -> None:  # type: ignore[no-untyped-def]
    bed.hold("etco2", 35, 3)
    bed.hold("etco2", None, 3, flags=[Flag.SENSOR_OFF])
    conditions = {a.condition for a in bed.snapshot().active}
    assert "sensor_off" in conditions
    assert not conditions & {"etco2_low", "no_breath"}
