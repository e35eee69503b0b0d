"""The clinic profile: the shipped default, errors that name line and field, the `limits` command."""

from __future__ import annotations

import io

import pytest

from monitor.alarms.model import Priority
from monitor.alarms.profile import (
    ProfileError,
    ProfileHolder,
    default_profile,
    default_profile_text,
    load_profile,
    parse_profile,
)
from monitor.cli import main
from monitor.session import Phase


def test_default_profile_holds_the_clinical_table():
    profile = default_profile()
    described = {rule.id: (rule.describe(), rule.priority, rule.delay_s) for rule in profile.rules}
    assert described["spo2_low_severe"] == ("spo2 < 90", Priority.HIGH, 15.0)
    assert described["spo2_low"] == ("spo2 < 92", Priority.MEDIUM, 15.0)
    assert described["nibp_sys_crisis"] == ("nibp_sys > 180", Priority.HIGH, 0.0)
    assert described["nibp_dia_crisis"] == ("nibp_dia > 120", Priority.HIGH, 0.0)
    assert described["nibp_sys_high"] == ("nibp_sys ≥ 180", Priority.MEDIUM, 0.0)
    assert described["nibp_dia_high"] == ("nibp_dia ≥ 110", Priority.MEDIUM, 0.0)
    assert described["nibp_sys_raised"] == ("nibp_sys ≥ 165", Priority.LOW, 0.0)
    assert described["nibp_dia_raised"] == ("nibp_dia ≥ 100", Priority.LOW, 0.0)
    assert described["nibp_sys_low"] == ("nibp_sys < 90", Priority.HIGH, 0.0)
    assert described["hr_low"][:2] == ("heart_rate < 50", Priority.HIGH)
    assert described["hr_high_severe"][:2] == ("heart_rate > 150", Priority.HIGH)
    assert described["hr_high"][:2] == ("heart_rate > 120", Priority.MEDIUM)
    assert described["bp_above_baseline"][:2] == ("nibp_sys/nibp_dia > baseline +20 %", Priority.LOW)
    assert described["bp_above_baseline_severe"][1] is Priority.MEDIUM
    assert profile.audio_pause_s == 120
    assert profile.lost_data_escalate_after_s == 60
    assert profile.no_data_s["spo2"] == 10
    assert profile.rules_for(Phase.RECOVERY) == profile.rules


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def _assert_refused(text: str, field: str, line_text: str, words: str) -> None:
    """``text`` is refused with a message naming the file, the line holding ``line_text`` and ``field``, then
    saying ``words``."""
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "clinic.toml")
    message = str(caught.value)
    assert message.startswith(f"clinic.toml: line {_line_of(text, line_text)}, field {field}: "), message
    assert words in message


BASE = """\
[timing]
audio_pause_s = 120

[rules.spo2_low]
parameter = "spo2"
below = 92
priority = "medium"
delay_s = 15
"""

# what to change in BASE, the field the error must name, the line text it must point at, words in the message
ERRORS = [
    (("below = 92", 'below = "ninety"'), "rules.spo2_low.below", 'below = "ninety"', "expected a number"),
    (("delay_s = 15", "delay_s = 5"), "rules.spo2_low.delay_s", "delay_s = 5", "10 to 30"),
    (
        ('priority = "medium"', 'priority = "urgent"'),
        "rules.spo2_low.priority",
        'priority = "urgent"',
        "unknown priority",
    ),
    (('priority = "medium"', 'prority = "medium"'), "rules.spo2_low.prority", "prority", "unknown field"),
    (
        ('parameter = "spo2"', 'parameter = "lactate"'),
        "rules.spo2_low.parameter",
        "lactate",
        "unknown parameter",
    ),
    (("audio_pause_s = 120", "audio_pause_s = 5000"), "timing.audio_pause_s", "audio_pause_s", "outside"),
    (
        ("audio_pause_s = 120", "audio_pause_s = 120\ninfusion_paused_remind_s = 30"),
        "timing.infusion_paused_remind_s",
        "infusion_paused_remind_s = 30",
        "outside",
    ),
    (("below = 92", "below = 92\nabove = 99"), "rules.spo2_low.above", "above = 99", "one comparison"),
    (("[timing]", "[timings]"), "timings", "[timings]", "unknown field"),
]


@pytest.mark.parametrize(("change", "field", "line_text", "words"), ERRORS)
def test_profile_errors_name_line_and_field(change, field, line_text, words):
    _assert_refused(BASE.replace(*change), field, line_text, words)


def test_nibp_rules_take_no_delay():
    text = '[rules.x]\nparameter = "nibp_sys"\nabove = 170\npriority = "low"\ndelay_s = 30\n'
    with pytest.raises(ProfileError, match=r"line 5, field rules\.x\.delay_s: NIBP is a spot value"):
        parse_profile(text, "p.toml")


def test_toml_syntax_error_names_the_line():
    with pytest.raises(ProfileError, match=r"p.toml: .*line 2"):
        parse_profile("[timing]\naudio_pause_s = = 3\n", "p.toml")


def test_phase_override_of_unknown_phase():
    text = BASE + "\n[phases.discharge.rules.spo2_low]\nbelow = 93\n"
    with pytest.raises(
        ProfileError, match=f"line {_line_of(text, 'phases.discharge')}, field phases.discharge"
    ):
        parse_profile(text, "p.toml")


def test_holder_keeps_the_last_valid_profile(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(BASE.replace("92", "93"))
    bad = tmp_path / "bad.toml"
    bad.write_text(BASE.replace("92", "-1"))
    holder = ProfileHolder()
    assert holder.profile.name == "default"
    holder.load(good)
    with pytest.raises(ProfileError):
        holder.load(bad)
    assert holder.profile.rule("spo2_low").limit == 93
    assert "bad.toml" in (holder.last_error or "")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "none.toml")


def test_default_profile_file_is_valid_toml_with_comments():
    text = default_profile_text()
    assert "[rules.spo2_low]" in text
    assert parse_profile(text).sha256 == default_profile().sha256


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("INFUSION_MONITOR_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("INFUSION_MONITOR_PROFILE", raising=False)
    return tmp_path


def test_limits_command_prints_the_active_limits(clean_env):
    out = io.StringIO()
    assert main(["limits"], out=out) == 0
    text = out.getvalue()
    assert "alarm profile: default" in text
    assert "spo2_low_severe" in text
    assert "spo2 < 90" in text
    assert "high" in text
    assert "15 s" in text


def test_limits_command_reads_the_profile_from_the_environment(clean_env, monkeypatch):
    path = clean_env / "clinic.toml"
    path.write_text(
        '[profile]\nname = "north clinic"\n' + BASE + "\n[phases.recovery.rules.spo2_low]\nbelow = 94\n"
    )
    monkeypatch.setenv("INFUSION_MONITOR_PROFILE", str(path))
    out = io.StringIO()
    assert main(["limits"], out=out) == 0
    assert "north clinic" in out.getvalue()
    assert "in the recovery phase" in out.getvalue()
    assert "spo2 < 94" in out.getvalue()


def test_limits_command_reports_a_broken_profile_without_a_traceback(clean_env, capsys):
    path = clean_env / "broken.toml"
    path.write_text(BASE.replace("below = 92", "below = true"))
    assert main(["limits", "--profile", str(path)], out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "line 6, field rules.spo2_low.below" in err
    assert "Traceback" not in err


LADDER = BASE + """
[rules.spo2_low_severe]
parameter = "spo2"
below = 90
priority = "high"
delay_s = 15
"""

# what to change in LADDER (or what to add), the field named, the line text it points at, words in the message
NONSENSE = [
    (("below = 90", "below = 93"), "rules.spo2_low_severe.below", "below = 93", "nearer to normal"),
    (("below = 90", "below = 50"), "rules.spo2_low_severe.below", "below = 50", "physiological bounds"),
    (("below = 92", "below = 101"), "rules.spo2_low.below", "below = 101", "physiological bounds"),
    (
        ("", "\n[phases.recovery.rules.spo2_low_severe]\nenabled = false\n"),
        "phases.recovery.rules.spo2_low_severe.enabled",
        "enabled = false",
        "allow_disabled",
    ),
    (
        ("", "\n[phases.infusion.rules.spo2_low]\nbelow = 89\n"),
        "phases.infusion.rules.spo2_low.below",
        "below = 89",
        "in order (in the infusion phase)",
    ),
]


@pytest.mark.parametrize(("change", "field", "line_text", "words"), NONSENSE)
def test_profiles_that_make_no_clinical_sense_are_refused(change, field, line_text, words):
    _assert_refused(LADDER.replace(*change) if change[0] else LADDER + change[1], field, line_text, words)


def test_a_high_rule_may_be_switched_off_when_the_profile_names_it():
    text = (
        '[profile]\nallow_disabled = ["spo2_low_severe"]\n'
        + LADDER
        + "\n[phases.recovery.rules.spo2_low_severe]\nenabled = false\n"
    )
    profile = parse_profile(text, "clinic.toml")
    assert "spo2_low_severe" not in {r.id for r in profile.rules_for(Phase.RECOVERY)}


def test_a_limit_changed_on_screen_is_checked_for_sense_too():
    profile = default_profile()
    changed = profile.rule("spo2_low_severe")
    from dataclasses import replace

    with pytest.raises(ProfileError, match="nearer to normal"):
        profile.with_rule(replace(changed, limit=95.0))


def test_care_rules_and_signal_settings_come_from_the_profile():
    text = LADDER + (
        "\n[timing]\n" if "[timing]" not in LADDER else ""
    )
    text = text.replace("audio_pause_s = 120", "audio_pause_s = 120\nwindow_factor = 1.5\nend_hold_s = 8")
    text += (
        "\n[end_margin]\nspo2 = 2\n\n[baseline]\nmin_duration_s = 300\nhold_sys = 160\n"
        "\n[discharge]\nnibp_max_age_s = 600\n\n[nibp_confirm]\nenabled = false\n"
    )
    profile = parse_profile(text, "clinic.toml")
    assert (profile.window_factor, profile.end_hold_s, profile.end_margin["spo2"]) == (1.5, 8, 2)
    assert profile.care.baseline_min_s == 300
    assert profile.care.hold_sys == 160
    assert profile.care.hold_dia == 100
    assert profile.care.discharge_nibp_max_age_s == 600
    assert profile.nibp_confirm is False
