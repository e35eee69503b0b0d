"""Alarm states: latching, acknowledge, audio pause with breakthrough, escalation, reset, admin states."""

from __future__ import annotations

import pytest

from drivers.core.readings import Flag
from monitor.alarms.engine import ADMIN_COMMANDS, USER_COMMANDS, AlarmCommandError, AlarmPermissionError
from monitor.alarms.model import AlarmState, Priority
from monitor.alarms.profile import ProfileError, default_profile_text, parse_profile
from monitor.store import alarm_row
from tests.monitor.alarms.conftest import ALARM_FIELDS

ROW_KEYS = ALARM_FIELDS | {"id", "message", "state"}


def test_log_rows_carry_the_agreed_keys(bed):
    bed.hold("spo2", 91, 16)
    assert bed.history
    assert all(set(alarm_row(row)) == ROW_KEYS for row in bed.history)
    assert [step.as_dict() for step in bed.history[0].escalations] == []


# condition, how to start it, how to end it, expected state after the condition is over
RECOVERY_TABLE = [
    ("spo2_low_severe", ("spo2", 85, 16), ("spo2", 97), "latched"),  # high physiological: latches
    ("hr_low", ("hr", 40, 10), ("hr", 70), "latched"),
    ("spo2_low", ("spo2", 91, 16), ("spo2", 97), "ended"),  # medium: no latch
    ("nibp_sys_raised", ("nibp_sys", 170, 0), ("nibp_sys", 130), "ended"),  # low: no latch
    ("sensor_off", ("spo2", None, 3, "sensor_off"), ("spo2", 97), "ended"),  # technical: never latches
]


@pytest.mark.parametrize(("condition", "start", "end", "after"), RECOVERY_TABLE)
def test_what_happens_when_the_value_recovers(bed, condition, start, end, after):
    parameter, value, seconds, *flags = start
    bed.hold(parameter, value, seconds, flags=flags)
    assert bed.shown(condition) is not None
    ended = bed.recover(*end)
    assert bed.logged(condition)[0].state == after
    # A continuous value ends its condition after the hold back within its limit, a probe's alarm after
    # the hold with usable values; a cuff at once.
    assert bed.logged(condition)[0].ended_at == ended
    on_screen = bed.shown(condition)
    assert (on_screen is not None) is (after == "latched")
    if on_screen is not None:
        assert on_screen.latched
        assert bed.snapshot().sounding is Priority.HIGH, "a latched alarm keeps sounding"


def test_latched_alarm_leaves_when_acknowledged_with_who_and_when(bed):
    bed.hold("spo2", 85, 16)
    bed.hold("spo2", 97, 30)
    assert bed.shown("spo2_low_severe").latched
    count = bed.command("acknowledge", user="JD")
    assert count == 1
    row = bed.logged("spo2_low_severe")[0]
    assert row.state == "ended"
    assert row.acknowledged_by == "JD"
    assert row.acknowledged_at == bed.now
    assert row.ended_at < row.acknowledged_at
    assert bed.snapshot().active == ()
    assert bed.snapshot().sounding is None


def test_latched_alarm_comes_back_to_active_when_the_breach_returns(bed):
    bed.hold("spo2", 85, 16)
    bed.recover("spo2", 97)
    bed.now += 1
    bed.hold("spo2", 86, 14)
    assert bed.logged("spo2_low_severe")[0].state == "latched", "the delay applies to a new breach too"
    bed.reading("spo2", 86)
    rows = bed.logged("spo2_low_severe")
    assert len(rows) == 1
    assert rows[0].state == "active"
    assert rows[0].ended_at is None
    assert rows[0].peak_value == 85


def test_acknowledging_an_active_alarm_silences_it_but_keeps_it_shown(bed):
    bed.hold("spo2", 91, 16)
    alarm = bed.shown("spo2_low")
    bed.command("acknowledge", alarm_id=alarm.id, user="JD")
    shown = bed.shown("spo2_low")
    assert shown is not None
    assert shown.silenced
    assert bed.snapshot().sounding is None
    bed.recover("spo2", 97)
    assert bed.shown("spo2_low") is None


def test_acknowledging_an_unknown_alarm_is_a_clear_error(bed):
    with pytest.raises(AlarmCommandError, match="no alarm on screen"):
        bed.command("acknowledge", alarm_id="nope")


class TestEscalation:
    def test_unacknowledged_medium_becomes_high_after_five_minutes(self, bed):
        bed.hold("spo2", 91, 16)
        started = bed.logged("spo2_low")[0].started_at
        bed.hold("spo2", 91, 299 - (bed.now - started))
        assert bed.shown("spo2_low").priority is Priority.MEDIUM
        bed.hold("spo2", 91, 2)
        alarm = bed.shown("spo2_low")
        assert alarm.priority is Priority.HIGH
        assert alarm.escalated
        row = bed.logged("spo2_low")[0]
        (step,) = [step.as_dict() for step in row.escalations]
        assert step["from"] == "medium"
        assert step["to"] == "high"
        assert step["at"] == started + 300
        assert "unacknowledged" in step["reason"]
        assert row.priority.label == "high"

    def test_an_escalated_alarm_latches_like_any_high_one(self, bed):
        bed.hold("spo2", 91, 320)
        bed.recover("spo2", 97)
        assert bed.logged("spo2_low")[0].state == "latched"

    def test_acknowledged_medium_does_not_escalate(self, bed):
        bed.hold("spo2", 91, 16)
        bed.command("acknowledge")
        bed.hold("spo2", 91, 400)
        assert bed.shown("spo2_low").priority is Priority.MEDIUM

    def test_escalation_time_comes_from_the_profile(self, make_bed):
        profile = parse_profile("[timing]\nescalate_medium_after_s = 60\n" + SPO2_RULES, "p.toml")
        bed = make_bed(profile)
        bed.hold("spo2", 91, 15 + 60)
        assert bed.shown("spo2_low").priority is Priority.HIGH


SPO2_RULES = """
[rules.spo2_low]
parameter = "spo2"
below = 92
priority = "medium"
delay_s = 15
"""


class TestAudioPause:
    def test_pause_silences_for_two_minutes_with_a_countdown(self, bed):
        bed.hold("spo2", 91, 16)
        assert bed.snapshot().sounding is Priority.MEDIUM
        until = bed.command("pause_audio")
        assert until == bed.now + 120
        snap = bed.snapshot()
        assert snap.sounding is None
        assert snap.audio_paused_until == until
        bed.hold("spo2", 91, 118)
        assert bed.snapshot().sounding is None
        bed.hold("spo2", 91, 2)
        snap = bed.snapshot()
        assert snap.sounding is not None
        assert snap.audio_paused_until is None

    def test_a_higher_priority_alarm_breaks_through(self, bed):
        bed.reading("nibp_sys", 170)  # low
        bed.command("pause_audio")
        bed.reading("nibp_dia", 112)  # medium: higher than what was sounding
        snap = bed.snapshot()
        assert snap.sounding is Priority.MEDIUM
        assert snap.audio_paused_until is None

    def test_same_priority_does_not_break_through(self, bed):
        bed.hold("spo2", 91, 16)
        bed.command("pause_audio")
        bed.reading("nibp_dia", 112)  # another medium
        assert bed.snapshot().sounding is None

    def test_pause_ahead_of_alarms_holds_low_but_not_medium(self, bed):
        bed.command("pause_audio")
        bed.reading("nibp_sys", 170)  # low
        assert bed.snapshot().sounding is None
        bed.reading("nibp_dia", 112)  # medium
        assert bed.snapshot().sounding is Priority.MEDIUM

    def test_resume_audio_ends_the_pause(self, bed):
        bed.hold("spo2", 91, 16)
        bed.command("pause_audio", duration_s=60)
        bed.command("resume_audio")
        assert bed.snapshot().sounding is Priority.MEDIUM


def test_reset_clears_latched_alarms_and_acknowledges_the_rest(bed):
    bed.hold("spo2", 85, 16)
    bed.recover("spo2", 97)  # latched high
    bed.reading("nibp_dia", 112)  # active medium
    bed.command("pause_audio")
    bed.command("reset", user="JD")
    snap = bed.snapshot()
    assert [a.condition for a in snap.active] == ["nibp_dia_high"]
    assert snap.active[0].silenced
    assert snap.sounding is None
    assert snap.audio_paused_until is None
    assert bed.logged("spo2_low_severe")[0].acknowledged_by == "JD"


class TestAdminOnly:
    @pytest.mark.parametrize("name", ["alarms_off", "alarms_on", "audio_off", "audio_on"])
    @pytest.mark.parametrize("role", [None, "nurse"])
    def test_refused_without_admin_role(self, bed, name, role):
        with pytest.raises(AlarmPermissionError, match="admin"):
            bed.command(name, role=role)
        snap = bed.snapshot()
        assert not snap.alarms_off
        assert not snap.audio_off

    def test_alarms_off_stops_physiological_alarms_with_a_permanent_indicator(self, bed):
        bed.hold("spo2", 91, 16)
        bed.command("alarms_off", user="ADM", role="admin")
        assert bed.logged("spo2_low")[0].state == "ended"
        bed.hold("spo2", 85, 60)
        bed.wait(3600)
        snap = bed.snapshot()
        assert snap.alarms_off
        assert [a.condition for a in snap.active] == ["no_data"], "only the technical no-data alarm"
        assert bed.logged("spo2_low_severe") == []
        bed.reading("spo2", None, flags=["sensor_off"])
        assert bed.shown("sensor_off") is not None, "technical alarms still show with alarms off"
        bed.command("alarms_on", role="admin")
        bed.hold("spo2", 85, 16)
        assert bed.shown("spo2_low_severe") is not None

    def test_audio_off_is_permanent_and_silent(self, bed):
        bed.command("audio_off", role="admin")
        bed.hold("spo2", 85, 16)
        bed.wait(3600)
        snap = bed.snapshot()
        assert snap.audio_off
        assert snap.sounding is None
        assert snap.active
        bed.command("audio_on", role="admin")
        assert bed.snapshot().sounding is Priority.HIGH

    def test_set_limit_changes_the_rule_from_the_next_reading(self, bed):
        with pytest.raises(AlarmPermissionError):
            bed.command("set_limit", rule="spo2_low", limit=94, role="nurse")
        result = bed.command("set_limit", rule="spo2_low", limit=94, role="admin", user="ADM")
        assert result["before"] == "spo2 < 92"
        assert result["after"] == "spo2 < 94"
        bed.hold("spo2", 93, 16)
        assert bed.shown("spo2_low") is not None
        assert any(line.condition == "spo2_low" and line.value == 94 for line in bed.snapshot().limits)

    def test_set_limit_in_one_phase_only(self, bed):
        bed.command("set_limit", rule="nibp_sys_raised", limit=150, phase="recovery", role="admin")
        bed.reading("nibp_sys", 155)
        assert bed.shown("nibp_sys_raised") is None

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            ({"rule": "spo2_low", "delay_s": 5}, "10 to 30"),
            ({"rule": "nibp_sys_high", "delay_s": 5}, "spot value"),
            ({"rule": "no_such_rule", "limit": 1}, "no rule"),
            ({"rule": "spo2_low"}, "needs limit"),
            ({"rule": "spo2_low", "priority": "urgent"}, "unknown priority"),
        ],
    )
    def test_set_limit_refuses_bad_values_and_keeps_the_profile(self, bed, args, message):
        before = bed.engine.profile
        with pytest.raises(ValueError, match=message):
            bed.command("set_limit", role="admin", **args)
        assert bed.engine.profile is before

    def test_load_profile_error_keeps_the_last_valid_profile(self, bed, tmp_path):
        bad = tmp_path / "bad.toml"
        bad.write_text('[rules.spo2_low]\nparameter = "spo2"\nbelow = "ninety"\npriority = "high"\n')
        before = bed.engine.profile
        with pytest.raises(ProfileError, match=r"line 3, field rules.spo2_low.below"):
            bed.command("load_profile", path=str(bad), role="admin")
        assert bed.engine.profile is before
        good = tmp_path / "good.toml"
        good.write_text(SPO2_RULES.replace("92", "95"))
        bed.command("load_profile", path=str(good), role="admin")
        bed.hold("spo2", 94, 16)
        assert bed.shown("spo2_low") is not None


def test_unknown_command(bed):
    with pytest.raises(AlarmCommandError, match="unknown alarm command"):
        bed.command("silence_everything")


@pytest.mark.parametrize("name", ["storage_failed", "storage_restored", "profile_not_used", "database_moved",
                                  "key_file", "screen_not_responding", "screen_responding", "nibp_confirm_started"])
def test_the_monitors_own_news_cannot_be_sent_as_a_command(bed, name):
    """A person cannot raise or clear a technical alarm (nor fake a started cuff), even as admin."""
    bed.report("storage_failed", detail="disk I/O error")
    before = bed.snapshot()
    with pytest.raises(AlarmCommandError, match="reported by the monitor itself"):
        bed.command(name, role="admin", detail="x")
    assert bed.snapshot() == before


def test_newer_word_on_a_moved_database_ends_the_alarm_on_screen_in_the_log(bed):
    """A second report replaced the first alarm on screen without ending it: its log row stayed active for good."""
    bed.report("database_moved", detail="The database was deleted with its folder and could not be written back")
    bed.now += 7
    bed.report("database_moved", detail="The database was deleted with its folder; its data were written back")
    [first, second] = bed.logged("database_moved")
    assert first.state is AlarmState.ENDED and first.ended_at == bed.now
    assert second.state is AlarmState.ACTIVE and second.priority is Priority.HIGH and "written back" in second.message
    assert [a.id for a in bed.snapshot().active if a.condition == "database_moved"] == [second.id]


@pytest.mark.parametrize("name", ["database_moved", "key_file"])
def test_an_alarm_about_what_happened_ends_when_acknowledged(bed, name):
    """Before, acknowledging only silenced it: a moved database stayed a high-priority alarm on screen for the rest
    of the session, and discharge was refused for it until overridden."""
    bed.report(name, detail="The file was deleted; it was written back")
    bed.tick(bed.now + 400)  # past the medium alarm's escalation: unacknowledged, the key file's rises to high too
    assert bed.engine.high_priority_alarms() == ("The file was deleted; it was written back",)
    bed.command("acknowledge")
    assert bed.shown(name) is None and bed.engine.high_priority_alarms() == ()
    [logged] = bed.logged(name)
    assert logged.state is AlarmState.ENDED and logged.ended_at == bed.now and logged.acknowledged_by == "RN"


def test_reports_are_not_commands_and_commands_are_not_reports(bed):
    assert ADMIN_COMMANDS < USER_COMMANDS
    with pytest.raises(AlarmCommandError, match="unknown report 'acknowledge'"):
        bed.report("acknowledge")


def _spo2_missing_for(bed, seconds):
    """SpO2 sends no value for ``seconds`` while HR carries on; returns SpO2's active no-data alarm."""
    for _ in range(seconds):
        bed.reading("spo2", None)
        bed.reading("hr", 70)
        bed.now += 1
    return next(a for a in bed.snapshot().active if a.condition == "no_data" and a.parameter == "spo2")


class TestAcknowledgeIsNotForever:
    def test_acknowledged_lost_data_still_rises_to_high_after_60_s(self, bed):
        bed.take_baseline()
        bed.hold("hr", 70, 5)
        bed.hold("spo2", 97, 5)
        alarm = _spo2_missing_for(bed, 12)
        assert alarm.priority is Priority.MEDIUM
        bed.command("acknowledge", user="JD")
        assert bed.snapshot().sounding is None
        alarm = _spo2_missing_for(bed, 62)
        assert alarm.priority is Priority.HIGH
        assert not alarm.silenced, "a higher priority sounds again"
        assert bed.snapshot().sounding is Priority.HIGH

    @pytest.mark.parametrize(("later", "sounds"), [(134, False), (136, True)])
    def test_acknowledged_alarm_sounds_again_when_worse_by_the_step(self, bed, later, sounds):
        bed.hold("hr", 125, 11)
        bed.command("acknowledge", user="JD")
        assert bed.snapshot().sounding is None
        bed.hold("hr", later, 3)
        alarm = bed.shown("hr_high")
        assert alarm.silenced is not sounds
        assert (bed.snapshot().sounding is Priority.MEDIUM) is sounds
        if sounds:
            (step,) = [step.as_dict() for step in bed.logged("hr_high")[0].escalations]
            assert "worse since acknowledged" in step["reason"]

    def test_the_worsen_step_comes_from_the_profile(self, make_bed):
        text = default_profile_text().replace("spo2 = 3\nheart_rate = 10", "spo2 = 3\nheart_rate = 20")
        assert parse_profile(text).worsen_step["heart_rate"] == 20
        bed = make_bed(parse_profile(text, "p.toml"))
        bed.hold("hr", 125, 11)
        bed.command("acknowledge", user="JD")
        bed.hold("hr", 140, 3)
        assert bed.snapshot().sounding is None
        bed.hold("hr", 146, 3)
        assert bed.snapshot().sounding is Priority.MEDIUM


def test_a_latched_alarm_shows_its_worst_value_and_the_current_one(bed):
    bed.hold("hr", 45, 4)
    bed.hold("hr", 38, 8)
    bed.hold("hr", 47, 3)
    bed.recover("hr", 72)
    alarm = bed.shown("hr_low")
    assert alarm.latched
    assert alarm.peak_value == 38
    assert alarm.current == 72
    assert alarm.shown.startswith("HR 38 < 50")
    assert "now 72" in alarm.shown
    bed.hold("hr", 84, 30)  # long after the condition ended, until someone acknowledges: still the newest value
    alarm = bed.shown("hr_low")
    assert alarm.latched and alarm.current == 84 and "now 84" in alarm.shown


class TestConfirmingCuff:
    def test_one_confirming_cuff_per_breach(self, bed):
        bed.reading("nibp_sys", 190)
        start = bed.now
        assert "repeat NIBP to confirm" in bed.shown("nibp_sys_crisis").shown
        assert not bed.engine.nibp_confirm_due(start + 29)
        assert bed.engine.nibp_confirm_due(start + 30)
        bed.now = start + 30
        bed.report("nibp_confirm_started")
        assert not bed.engine.nibp_confirm_due(bed.now)
        assert "confirming NIBP started" in bed.shown("nibp_sys_crisis").shown
        bed.now = start + 70
        bed.reading("nibp_sys", 186)
        assert "confirmed by a repeat NIBP" in bed.shown("nibp_sys_crisis").shown
        assert not bed.engine.nibp_confirm_due(bed.now + 600), "the same breach asks once"
        bed.reading("nibp_sys", 130)
        assert bed.shown("nibp_sys_crisis").latched
        bed.command("acknowledge")
        bed.now += 600
        bed.reading("nibp_sys", 170)  # a new breach (low priority) asks again
        assert bed.engine.nibp_confirm_due(bed.now + 30)

    def test_a_failed_cuff_does_not_count_as_the_confirmation(self, bed):
        bed.reading("nibp_dia", 112)
        bed.report("nibp_confirm_started")
        bed.now += 40
        bed.reading("nibp_dia", None, flags=[Flag.MEASUREMENT_FAILED])
        alarm = bed.shown("nibp_dia_high")
        assert alarm is not None and not alarm.latched
        assert "confirming NIBP started" in alarm.shown

    def test_the_profile_can_turn_the_automatic_cuff_off(self, make_bed):
        text = default_profile_text().replace("enabled = true\nafter_s = 30", "enabled = false\nafter_s = 30")
        bed = make_bed(parse_profile(text, "p.toml"))
        bed.reading("nibp_sys", 190)
        assert not bed.engine.nibp_confirm_due(bed.now + 3600)
        assert "repeat NIBP to confirm" in bed.shown("nibp_sys_crisis").shown
