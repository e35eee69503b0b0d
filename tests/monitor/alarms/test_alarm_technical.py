"""Technical alarms: from device status flags, from silence, from the link, the cuff and storage."""

from __future__ import annotations

from dataclasses import replace

import pytest

from drivers.core.readings import Flag
from monitor.alarms.model import AlarmKind, Priority
from monitor.alarms.profile import default_profile
from monitor.session import EventKind

from .conftest import Bed

# flags on the reading, parameter, expected condition, expected parameter of the alarm
STATUS_TABLE = [
    ([Flag.SENSOR_OFF], "spo2", "sensor_off", "spo2"),
    ([Flag.NO_SENSOR], "spo2", "sensor_off", "spo2"),
    ([Flag.SENSOR_DEFECT], "pr", "sensor_off", "spo2"),
    ([Flag.PULSE_SEARCH], "spo2", "no_pulse", "spo2"),
    ([Flag.SENSOR_OFF], "hr", "sensor_off", "hr"),
    ([Flag.INVALID], "spo2", "invalid_value", "spo2"),
    ([Flag.MEASUREMENT_FAILED], "nibp_sys", "nibp_failed", "nibp_sys"),
]


@pytest.mark.parametrize(("flags", "parameter", "condition", "alarm_parameter"), STATUS_TABLE)
def test_technical_alarm_from_device_status(bed, flags, parameter, condition, alarm_parameter):
    bed.reading(parameter, None, flags=flags)
    alarm = bed.shown(condition)
    assert alarm is not None
    assert alarm.kind is AlarmKind.TECHNICAL
    assert alarm.parameter == alarm_parameter
    good = {"spo2": 97, "pr": 70, "hr": 70, "nibp_sys": 120}[parameter]
    bed.now += 1
    bed.recover(parameter, good)
    assert bed.shown(condition) is None
    assert bed.logged(condition)[0].state == "ended"


def test_an_invalid_value_every_few_seconds_is_one_alarm(bed):
    """A device flagging one SpO2 value in six invalid for a minute: one alarm, not ten starts and ends; it ends
    after the end hold of usable values."""
    for i in range(61):
        invalid = i % 6 == 0
        bed.reading("spo2", None if invalid else 97, bed.now + 1, flags=[Flag.INVALID] if invalid else [])
    assert len(bed.logged("invalid_value")) == 1
    assert bed.shown("invalid_value") is not None
    bed.now += 1
    ended = bed.recover("spo2", 97)
    assert bed.logged("invalid_value")[0].ended_at == ended


def test_one_probe_off_alarm_for_spo2_and_pulse_rate(bed):
    for i in range(5):
        bed.reading("spo2", None, bed.now + i, flags=[Flag.SENSOR_OFF])
        bed.reading("pr", None, bed.now, flags=[Flag.SENSOR_OFF])
    assert len(bed.logged("sensor_off")) == 1


def test_probe_off_outside_infusion_is_low_and_does_not_rise(bed):
    bed.hold("spo2", None, 200, flags=[Flag.SENSOR_OFF])
    alarm = bed.shown("sensor_off")
    assert alarm.priority is Priority.LOW
    assert not alarm.escalated


def test_lost_data_during_infusion_is_medium_then_high_after_60_s(bed):
    bed.take_baseline()
    bed.hold("spo2", None, 59, flags=[Flag.SENSOR_OFF])
    assert bed.shown("sensor_off").priority is Priority.MEDIUM
    bed.hold("spo2", None, 2, flags=[Flag.SENSOR_OFF])
    alarm = bed.shown("sensor_off")
    assert alarm.priority is Priority.HIGH
    step = [step.as_dict() for step in bed.logged("sensor_off")[0].escalations][-1]
    assert step["from"] == "medium"
    assert step["to"] == "high"
    assert step["at"] - bed.logged("sensor_off")[0].started_at == 60
    bed.recover("spo2", 97)
    assert bed.shown("sensor_off") is None, "technical alarms never latch, even when high"


def test_lost_data_alarm_rises_to_medium_when_the_infusion_starts(bed):
    bed.session.start_baseline(bed.now, "RN")
    bed.events()
    for parameter, value in (("hr", 70), ("spo2", 98), ("nibp_sys", 120), ("nibp_dia", 80)):
        bed.reading(parameter, value)
    bed.hold("pr", None, 3, flags=[Flag.SENSOR_OFF])
    assert bed.shown("sensor_off").priority is Priority.LOW
    bed.session.start_infusion(bed.now, "RN")
    bed.events()
    bed.tick(bed.now + 1)
    assert bed.shown("sensor_off").priority is Priority.MEDIUM


class TestNoData:
    def test_silence_after_spo2_was_seen(self, bed):
        bed.hold("spo2", 97, 5)
        last = bed.now - 1  # hold() leaves the clock one second after the last reading
        bed.wait(9)
        assert bed.shown("no_data") is None, "10 s of silence is still allowed"
        bed.wait(1)
        alarm = bed.shown("no_data")
        assert alarm is not None
        assert alarm.parameter == "spo2"
        assert alarm.started_at == last + 11
        bed.reading("spo2", 97)
        assert bed.shown("no_data") is None

    def test_never_seen_is_never_missing(self, bed):
        bed.hold("nibp_sys", 120, 0)
        bed.wait(600)
        assert bed.logged("no_data") == []

    def test_heart_rate_silence_counts_hr_and_pr_together(self, bed):
        start = bed.now
        for i in range(30):
            bed.reading("hr" if i < 5 else "pr", 70, start + i)
        assert bed.logged("no_data") == []
        bed.wait(12)
        assert bed.shown("no_data").parameter == "heart_rate"

    def test_values_measured_long_ago_are_no_data_that_says_why(self, bed):
        """A device whose clock is 25 s behind: values every second, each measured 25 s before now. They are
        not current, so one steady alarm, whose text names the cause instead of "no readings"."""
        bed.wait(1)  # the recorder's clock runs before the first value arrives
        for _ in range(40):
            bed.now += 1
            bed.reading("spo2", 97, bed.now - 25)
        (alarm,) = bed.logged("no_data")
        assert alarm.ended_at is None
        assert "values arrive measured 25 s before now: check the device's clock" in alarm.message
        assert "no readings" not in alarm.message
        # The clock put right: the first current value ends it.
        bed.now += 1
        bed.reading("spo2", 97)
        assert bed.shown("no_data") is None

    def test_a_backlog_after_silence_does_not_name_the_clock(self, bed):
        """Old values arriving after current ones (a late batch) say nothing about the device's clock."""
        bed.hold("spo2", 97, 5)
        bed.reading("spo2", 96, bed.now - 40)
        bed.wait(12)
        assert "no readings" in bed.shown("no_data").message


class TestLink:
    def test_link_lost_and_restored_from_timeline_events(self, bed):
        bed.hold("spo2", 97, 3)
        bed.session.record(EventKind.LINK_LOST, bed.now, None)
        bed.events()
        assert bed.shown("link_lost") is not None
        bed.wait(45)
        assert bed.logged("no_data") == [], "link_lost already says the data is gone"
        bed.session.record(EventKind.LINK_RESTORED, bed.now, None)
        bed.events()
        assert bed.shown("link_lost") is None
        bed.wait(10)
        assert bed.logged("no_data") == [], "the silence is counted from the link's return"
        bed.wait(2)
        assert bed.shown("no_data") is not None

    def test_link_lost_in_infusion_rises_to_high_after_60_s(self, bed):
        bed.take_baseline()
        bed.session.record(EventKind.LINK_LOST, bed.now, None)
        bed.events()
        assert bed.shown("link_lost").priority is Priority.MEDIUM
        bed.wait(61)
        assert bed.shown("link_lost").priority is Priority.HIGH


def test_nibp_overdue_after_one_and_a_half_cycles(bed):
    bed.take_baseline()
    last_cuff = bed.session.last_nibp_at  # the baseline's cuff value
    bed.wait(450 - (bed.now - last_cuff))
    assert bed.shown("nibp_overdue") is None
    bed.wait(2)
    alarm = bed.shown("nibp_overdue")
    assert alarm is not None
    assert alarm.priority is Priority.MEDIUM
    bed.reading("nibp_sys", 120)
    bed.tick(bed.now + 1)
    assert bed.shown("nibp_overdue") is None


def test_a_failed_cuff_measurement_stays_until_a_good_one(bed):
    for parameter in ("nibp_sys", "nibp_dia", "nibp_mean"):
        bed.reading(parameter, None, flags=[Flag.MEASUREMENT_FAILED])
    assert len(bed.logged("nibp_failed")) == 1
    bed.reading("nibp_sys", 120, bed.now + 300)
    assert bed.shown("nibp_failed") is None


def test_storage_failure_and_restoration(bed):
    bed.report("storage_failed", detail="disk I/O error")
    alarm = bed.shown("storage_failed")
    assert alarm is not None
    assert "disk I/O error" in alarm.shown
    assert alarm.priority is Priority.MEDIUM
    bed.report("storage_restored")
    assert bed.shown("storage_failed") is None


def test_session_end_closes_every_alarm(bed):
    bed.hold("spo2", 85, 16)
    bed.reading("nibp_sys", 170)
    bed.session.record(EventKind.SESSION_CLOSED, bed.now, None)
    bed.events()
    assert bed.snapshot().active == ()
    assert all(row.state == "ended" and row.ended_at is not None for row in bed.rows.values())


# A reported condition left unacknowledged past the 5 min escalation: its priority then, whether it holds up
# discharge (a high alarm on screen), and whether the discharge check lists it to be checked with the patient.
LEFT_UNANSWERED_TABLE = [
    # Records and setup conditions that may hold for the whole session: before, both rose to high and held up
    # discharge at both chairs until the clinic's IT had put the records or logins right.
    ("identity_conflict", "held with another birth date at Chair 1", Priority.MEDIUM, False, True),
    ("server_login_shared", "Chair 4 on pc-4 reports under this login", Priority.MEDIUM, False, False),
    # A medium condition the nurse can act on still escalates, and then holds up discharge.
    ("device_unreadable", "512 bytes in, no frame read", Priority.HIGH, True, False),
    ("profile_not_used", "not approved", Priority.LOW, False, False),
]


@pytest.mark.parametrize(("report", "detail", "priority", "holds_up", "checked"), LEFT_UNANSWERED_TABLE)
def test_a_reported_condition_left_unanswered(bed, report, detail, priority, holds_up, checked):
    bed.report(report, detail=detail)
    bed.wait(bed.engine.profile.escalate_medium_after_s + 60)
    alarm = bed.shown(report)
    assert alarm is not None and alarm.priority is priority
    assert bool(bed.engine.high_priority_alarms()) is holds_up
    assert bool(bed.engine.to_check_at_discharge()) is checked


@pytest.mark.parametrize(("report", "ended_by"), [("identity_conflict", "identity_agrees"),
                                                  ("server_login_shared", "server_login_own")])
def test_a_lasting_condition_stays_on_screen_acknowledged_until_it_ends(bed, report, ended_by):
    """Acknowledged, it goes quiet but stays in view (the condition still holds), at its own priority; it leaves
    the screen, and the discharge check, only when the condition ends."""
    bed.report(report, detail="held elsewhere")
    bed.wait(30)
    assert bed.command("acknowledge") == 1
    bed.wait(bed.engine.profile.escalate_medium_after_s * 3)
    alarm = bed.shown(report)
    assert alarm is not None and alarm.silenced and alarm.priority is Priority.MEDIUM and not alarm.escalations
    bed.report(ended_by)
    assert bed.shown(report) is None and bed.engine.to_check_at_discharge() == ()
    [logged] = bed.logged(report)
    assert logged.state.value == "ended" and logged.acknowledged_by == "RN"


# how long the infusion stays paused, what ends the pause (None: nothing yet), whether a reminder is on screen
# at the end, and whether one was ever raised
PAUSED_TABLE = [
    (299, None, False, False),  # a short pause (a line flushed, a bag changed) is no matter for an alarm
    (301, None, True, True),  # left paused: P pressed by mistake, or Resume forgotten
    (1800, None, True, True),  # one reminder however long it lasts
    (400, "resume", False, True),
    (400, "stop", False, True),
    (200, "resume", False, False),
]


@pytest.mark.parametrize(("paused_s", "then", "shown_at_end", "raised"), PAUSED_TABLE)
def test_an_infusion_left_paused_gets_a_low_reminder_until_it_resumes_or_stops(bed, paused_s, then, shown_at_end,
                                                                             raised):
    bed.take_baseline()
    bed.wait(60)
    bed.session.pause_infusion(bed.now, "RN")
    bed.events()
    paused_at = bed.now
    bed.wait(paused_s)
    if then == "resume":
        bed.session.resume_infusion(bed.now, "RN")
    elif then == "stop":
        bed.session.stop_infusion(bed.now, "RN")
    bed.events()
    assert (bed.shown("infusion_paused") is not None) is shown_at_end
    logged = bed.logged("infusion_paused")
    assert len(logged) == (1 if raised else 0)
    if raised:
        assert logged[0].kind is AlarmKind.TECHNICAL
        assert logged[0].priority is Priority.LOW
        assert logged[0].started_at == pytest.approx(paused_at + 300, abs=1.0)
        assert "Infusion paused for 5 min" in logged[0].shown
        if then is not None:
            assert logged[0].ended_at == bed.now  # at the resume or stop itself, not at a later tick


def test_the_paused_reminder_takes_the_profiles_time_and_priority():
    profile = default_profile()
    bed = Bed(replace(profile, infusion_paused_remind_s=120.0,
                      technical={**profile.technical, "infusion_paused": Priority.MEDIUM}))
    bed.take_baseline()
    bed.session.pause_infusion(bed.now, "RN")
    bed.events()
    bed.wait(119)
    assert bed.shown("infusion_paused") is None
    bed.wait(2)
    alarm = bed.shown("infusion_paused")
    assert alarm is not None
    assert alarm.priority is Priority.MEDIUM
    assert "Infusion paused for 2 min" in alarm.shown
