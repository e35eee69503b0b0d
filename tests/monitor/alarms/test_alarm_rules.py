"""Physiological rules of the default profile, one table row per rule, and how rules are judged."""

from __future__ import annotations

import pytest

from drivers.core.readings import Flag
from monitor.alarms.model import AlarmKind, Priority
from monitor.alarms.profile import parse_profile

# rule, parameter, a value that breaches it, the nearest value that does not, priority, delay (s)
RULE_TABLE = [
    ("spo2_low", "spo2", 91, 92, Priority.MEDIUM, 15),
    ("spo2_low_severe", "spo2", 89, 90, Priority.HIGH, 15),
    ("hr_low", "hr", 49, 50, Priority.HIGH, 10),
    ("hr_high", "hr", 121, 120, Priority.MEDIUM, 10),
    ("hr_high_severe", "hr", 151, 150, Priority.HIGH, 10),
    ("nibp_sys_low", "nibp_sys", 89, 90, Priority.HIGH, 0),
    ("nibp_sys_raised", "nibp_sys", 165, 164, Priority.LOW, 0),
    ("nibp_sys_high", "nibp_sys", 180, 179, Priority.MEDIUM, 0),
    ("nibp_sys_crisis", "nibp_sys", 181, 180, Priority.HIGH, 0),
    ("nibp_dia_raised", "nibp_dia", 100, 99, Priority.LOW, 0),
    ("nibp_dia_high", "nibp_dia", 110, 109, Priority.MEDIUM, 0),
    ("nibp_dia_crisis", "nibp_dia", 121, 120, Priority.HIGH, 0),
]


@pytest.mark.parametrize(("rule", "parameter", "bad", "good", "priority", "delay"), RULE_TABLE)
def test_rule_alarms_past_its_limit_with_its_priority(bed, rule, parameter, bad, good, priority, delay):
    bed.hold(parameter, bad, delay)
    alarm = bed.shown(rule)
    assert alarm is not None, f"{rule} should alarm at {parameter} {bad}"
    assert alarm.priority is priority
    assert alarm.kind is AlarmKind.PHYSIOLOGICAL
    # Only the most urgent rung of a ladder shows.
    same_parameter = [a for a in bed.snapshot().active if a.parameter == parameter]
    assert [a.condition for a in same_parameter] == [rule]
    row = bed.logged(rule)[0]
    assert row.limit is not None
    assert row.peak_value == bad


@pytest.mark.parametrize(("rule", "parameter", "bad", "good", "priority", "delay"), RULE_TABLE)
def test_rule_is_quiet_at_the_nearest_value_inside_its_limit(
    bed, rule, parameter, bad, good, priority, delay
):
    bed.hold(parameter, good, delay + 5)
    assert bed.logged(rule) == []


@pytest.mark.parametrize(("rule", "parameter", "bad", "good", "priority", "delay"), RULE_TABLE)
def test_rule_waits_for_its_condition_delay(bed, rule, parameter, bad, good, priority, delay):
    if delay == 0:
        bed.reading(parameter, bad)
        assert bed.shown(rule) is not None, "a spot value (NIBP) alarms at once"
        return
    bed.hold(parameter, bad, delay - 1)
    assert bed.shown(rule) is None
    bed.reading(parameter, bad)
    assert bed.shown(rule) is not None


@pytest.mark.parametrize(("seconds", "alarms"), [(14, False), (15, True), (16, True)])
def test_spo2_91_percent_delay_boundary(bed, seconds, alarms):
    bed.hold("spo2", 91, seconds)
    bed.reading("spo2", 97)
    rows = bed.logged("spo2_low")
    assert bool(rows) is alarms
    if alarms:
        assert rows[0].priority.label == "medium"
        assert rows[0].started_at - 1_700_000_000.0 == 15.0


def test_a_long_break_lets_the_earlier_breach_fall_out_of_the_window(bed):
    # 10 s beyond, 20 s normal, 10 s beyond: the first 10 s are out of the 30 s window by then.
    bed.hold("spo2", 91, 9)
    bed.hold("spo2", 95, 19)
    bed.hold("spo2", 91, 9)
    assert bed.logged("spo2_low") == []
    bed.hold("spo2", 91, 5)
    assert bed.shown("spo2_low") is not None, "15 s beyond within 30 s alarms"


def test_nibp_breach_asks_for_a_confirming_measurement(bed):
    bed.reading("nibp_sys", 185)
    assert "repeat NIBP to confirm" in bed.shown("nibp_sys_crisis").shown


def test_absolute_limits_apply_from_the_first_reading_in_setup(bed):
    assert bed.session.phase.value == "setup"
    bed.reading("nibp_sys", 85)
    assert bed.shown("nibp_sys_low") is not None


def test_sys_ladder_climbs_and_each_rung_logs_its_own_peak(bed):
    for i, value in enumerate((166, 182, 175)):
        bed.reading("nibp_sys", value, bed.now + 300 * i)
    raised, high, crisis = (bed.logged(c) for c in ("nibp_sys_raised", "nibp_sys_high", "nibp_sys_crisis"))
    assert [r.state for r in raised] == ["ended", "active"]
    assert crisis[0].state == "latched"
    assert crisis[0].peak_value == 182
    assert high == []  # 182 went straight to the top rung; 175 is below the medium rung


class TestHeartRateFallback:
    def test_pulse_rate_alarms_when_there_is_no_ecg(self, bed):
        bed.hold("pr", 45, 10)
        alarm = bed.shown("hr_low")
        assert alarm is not None
        assert alarm.parameter == "pr"

    def test_ecg_heart_rate_wins_over_pulse_rate(self, bed):
        start = bed.now
        for i in range(20):
            bed.reading("hr", 72, start + i)
            bed.reading("pr", 45, start + i)
        assert bed.logged("hr_low") == []

    def test_no_double_alarm_from_hr_and_pr(self, bed):
        start = bed.now
        for i in range(20):
            bed.reading("hr", 44, start + i)
            bed.reading("pr", 44, start + i)
        assert len(bed.logged("hr_low")) == 1
        assert bed.logged("hr_low")[0].parameter == "hr"

    def test_pulse_rate_takes_over_when_ecg_stops(self, bed):
        bed.hold("hr", 72, 5)
        start = bed.now
        for i in range(30):
            bed.reading("pr", 45, start + i)
        rows = bed.logged("hr_low")
        assert len(rows) == 1
        assert rows[0].parameter == "pr"
        # ECG is stale 10 s after its last value; then the 10 s delay runs on pr.
        assert rows[0].started_at >= start + 10


class TestUnreliableReadings:
    @pytest.mark.parametrize("flag", [Flag.ARTIFACT, Flag.SENSOR_OFF, Flag.INVALID, Flag.PULSE_SEARCH])
    def test_flagged_values_never_start_a_physiological_alarm(self, bed, flag):
        bed.hold("spo2", 80, 40, flags=[flag])
        assert [r for r in bed.rows.values() if r.kind == "physiological"] == []

    @pytest.mark.parametrize(
        ("value", "flags", "why"),
        [
            (97, [Flag.ARTIFACT], "artifact"),
            (None, [], "value missing (dashes)"),
            (None, [Flag.UNAVAILABLE], "unavailable"),
            (97, [Flag.DEMO_DATA], "demo data"),
        ],
    )
    @pytest.mark.parametrize(("start", "rule"), [(91, "spo2_low"), (85, "spo2_low_severe")])
    def test_no_usable_value_never_ends_an_alarm(self, bed, value, flags, why, start, rule):
        bed.hold("spo2", start, 16)
        bed.hold("spo2", value, 30, flags=flags)
        alarm = bed.shown(rule)
        assert alarm is not None and not alarm.latched, "the alarm stays active while no value comes"
        assert bed.logged(rule)[0].state == "active"
        assert not alarm.value_available
        assert f"now no value: {why}" in alarm.shown
        bed.recover("spo2", 97)
        assert bed.logged(rule)[0].state == ("latched" if rule == "spo2_low_severe" else "ended")


class TestBaselineRelative:
    def test_nothing_relative_before_the_baseline(self, bed):
        bed.reading("nibp_sys", 160)
        assert bed.logged("bp_above_baseline") == []

    @pytest.mark.parametrize(
        ("parameter", "value", "condition", "priority"),
        [
            ("nibp_sys", 145, "bp_above_baseline", "low"),  # 120 * 1.2 = 144
            ("nibp_dia", 97, "bp_above_baseline", "low"),  # 80 * 1.2 = 96
            ("nibp_sys", 169, "bp_above_baseline_severe", "medium"),  # 120 * 1.4 = 168
            ("nibp_dia", 113, "bp_above_baseline_severe", "medium"),  # 80 * 1.4 = 112
        ],
    )
    def test_above_baseline(self, bed, parameter, value, condition, priority):
        bed.take_baseline(sys=120, dia=80)
        bed.reading(parameter, value)
        rows = bed.logged(condition)
        assert len(rows) == 1
        assert rows[0].priority.label == priority
        assert rows[0].parameter == parameter
        assert "above baseline" in rows[0].message

    @pytest.mark.parametrize(("parameter", "value"), [("nibp_sys", 144), ("nibp_dia", 96)])
    def test_exactly_twenty_percent_is_not_above(self, bed, parameter, value):
        bed.take_baseline(sys=120, dia=80)
        bed.reading(parameter, value)
        assert bed.logged("bp_above_baseline") == []

    def test_sbp_or_dbp_a_normal_systolic_does_not_clear_a_high_diastolic(self, bed):
        bed.take_baseline(sys=120, dia=80)
        bed.reading("nibp_sys", 125)
        bed.reading("nibp_dia", 100)
        assert bed.shown("bp_above_baseline") is not None
        bed.now += 300
        bed.reading("nibp_sys", 126)
        assert bed.shown("bp_above_baseline") is not None
        bed.reading("nibp_dia", 85)
        assert bed.shown("bp_above_baseline") is None

    def test_a_cuff_in_range_raises_no_alarm_from_the_previous_cuffs_diastolic(self, bed):
        # A hypertensive session's recovery: 171/95 was under the severe rung (sys 46 % above 117), which kept
        # the 20 % rung quiet; the next cuff, 122/73, arrives systolic first. The 20 % rung, uncovered by the
        # severe one's end, was raised on the previous cuff's diastolic ("NIBP dia 95 mmHg is 40 % above
        # baseline 68" at the time of a cuff that measured 73) and ended when the new diastolic came in.
        bed.take_baseline(sys=117, dia=68)
        bed.reading("nibp_sys", 171)
        bed.reading("nibp_dia", 95)
        assert bed.shown("bp_above_baseline_severe") is not None
        assert bed.logged("bp_above_baseline") == []
        bed.now += 900
        bed.reading("nibp_sys", 122)
        bed.reading("nibp_dia", 73)
        assert [row.message for row in bed.history if row.condition == "bp_above_baseline"] == []

    def test_the_uncovered_rung_alarms_on_the_new_cuffs_own_value(self, bed):
        # The same, but the new cuff's diastolic is still more than 20 % above baseline: the 20 % rung alarms
        # with that value, at that cuff.
        bed.take_baseline(sys=117, dia=68)
        bed.reading("nibp_sys", 171)
        bed.reading("nibp_dia", 95)
        bed.now += 900
        cuff = bed.now
        bed.reading("nibp_sys", 122)
        bed.reading("nibp_dia", 88)
        rows = bed.logged("bp_above_baseline")
        assert [(row.started_at, row.parameter, row.peak_value) for row in rows] == [(cuff, "nibp_dia", 88)]
        assert rows[0].message.startswith("NIBP dia 88 mmHg is 29 % above baseline 68")
        assert bed.shown("bp_above_baseline") is not None

    def test_limit_lines_include_baseline_limits_once_taken(self, bed):
        before = {(line.condition, line.parameter) for line in bed.snapshot().limits}
        assert ("bp_above_baseline", "nibp_sys") not in before
        bed.take_baseline(sys=120, dia=80)
        lines = {(line.condition, line.parameter): line.value for line in bed.snapshot().limits}
        assert lines[("bp_above_baseline", "nibp_sys")] == 144.0
        assert lines[("bp_above_baseline_severe", "nibp_dia")] == 112.0


RECOVERY_PROFILE = """
[rules.nibp_sys_raised]
parameter = "nibp_sys"
at_or_above = 165
priority = "low"

[phases.recovery.rules.nibp_sys_raised]
at_or_above = 150

[phases.infusion.rules.spo2_watch]
parameter = "spo2"
below = 95
priority = "low"
delay_s = 10
"""


def test_per_phase_limits(make_bed):
    bed = make_bed(parse_profile(RECOVERY_PROFILE, "recovery.toml"))
    bed.take_baseline()
    bed.reading("nibp_sys", 155)
    assert bed.logged("nibp_sys_raised") == []
    bed.hold("spo2", 94, 10)
    assert bed.shown("spo2_watch") is not None, "a rule added for the infusion phase"
    bed.session.start_recovery(bed.now, "RN")
    bed.events()
    bed.reading("nibp_sys", 155)
    assert bed.shown("nibp_sys_raised") is not None
    bed.reading("spo2", 94)
    assert bed.logged("spo2_watch")[0].state == "ended", "the infusion-only rule ends in recovery"
