"""The alarm bar from snapshots: order, IEC colours and flash rates, markers, audio state; the sound player."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmSnapshot, AlarmState, Priority
from monitor.alarms.sounds import burst
from ui import theme
from ui.alarm_bar import AlarmBar, alarm_line
from ui.alarm_sound import AlarmSoundPlayer, pcm16, probe_audio
from ui.live_window import tile_alarms

T0 = 1_790_000_000.0


def _alarm(alarm_id: str, priority: Priority, message: str, acknowledged: bool = False) -> AlarmRecord:
    return AlarmRecord(alarm_id, alarm_id, "spo2", priority, AlarmKind.PHYSIOLOGICAL, message, T0, value=86.0,
                       limit=90.0, silenced=acknowledged)


@pytest.fixture
def bar(qtbot: Any) -> AlarmBar:
    widget = AlarmBar()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_alarms_are_listed_highest_first_with_markers_and_colours(bar: AlarmBar) -> None:
    active = (_alarm("h", Priority.HIGH, "SpO2 86 < 90"), _alarm("m", Priority.MEDIUM, "HR 125 > 120"),
              _alarm("l", Priority.LOW, "SBP 168 ≥ 165"))
    bar.show_snapshot(AlarmSnapshot(active, None, False, False, Priority.HIGH), T0 + 5)
    texts = [r.text() for r in bar.rows if r.isVisible()]
    assert [t.split(" ")[0] for t in texts] == ["***", "**", "*"]
    assert not bar.quiet_label.isVisible()
    for row, priority in zip(bar.rows, (Priority.HIGH, Priority.MEDIUM, Priority.LOW), strict=False):
        assert theme.ALARM_COLOURS[priority] in row.styleSheet()
    assert bar.ack_button.isEnabled()


def test_high_flashes_at_2_hz_medium_at_half_hz_and_low_stays_steady(bar: AlarmBar) -> None:
    active = (_alarm("h", Priority.HIGH, "a"), _alarm("m", Priority.MEDIUM, "b"), _alarm("l", Priority.LOW, "c"))
    bar.show_snapshot(AlarmSnapshot(active, None, False, False, None), T0)
    high, medium, low = bar.rows[:3]
    seen = {"high": [], "medium": [], "low": []}
    for _ in range(16):  # 16 steps of 250 ms = 4 s
        bar._flash_tick()
        seen["high"].append(high.lit)
        seen["medium"].append(medium.lit)
        seen["low"].append(low.lit)
    assert seen["high"][:4] == [False, True, False, True]  # 250 ms on, 250 ms off: 2 Hz, 50 %
    assert seen["medium"][:8] == [True, True, True, False, False, False, False, True]  # 1 s on, 1 s off
    assert all(seen["low"])
    assert sum(seen["high"]) == 8 and sum(seen["medium"]) == 8  # 50 % duty


def test_a_latched_alarm_says_its_condition_is_over_unless_carried_over_an_interruption() -> None:
    latched = replace(_alarm("h", Priority.HIGH, "SpO2 86 < 90"), ended_at=T0 + 20, state=AlarmState.LATCHED)
    assert alarm_line(latched).endswith("· latched – condition over")
    carried = replace(latched, carried=True)
    assert alarm_line(carried).endswith("· latched – not judged since")
    assert "condition over" not in alarm_line(carried)
    # The tile too: "(over)" for a condition judged over, "(earlier)" for one from before the interruption.
    tiles = [tile_alarms(AlarmSnapshot((alarm,), None, False, False, Priority.HIGH))["spo2"][1]
             for alarm in (latched, carried)]
    assert tiles == ["*** SpO2 < 90 (over)", "*** SpO2 < 90 (earlier)"]


def test_a_tile_names_the_side_of_the_rule_even_for_a_value_exactly_on_its_limit() -> None:
    from monitor.alarms.model import LimitLine

    on_the_line = replace(_alarm("spo2_low", Priority.MEDIUM, "SpO2 90 ≤ 90"), condition="spo2_low", value=90.0)
    rule = LimitLine("spo2_low", "spo2", 90.0, Priority.MEDIUM, "≤")
    shown = tile_alarms(AlarmSnapshot((on_the_line,), None, False, False, Priority.MEDIUM, limits=(rule,)))
    assert shown["spo2"][1] == "** SpO2 ≤ 90"
    # A rule no longer in force: the value tells the side.
    assert tile_alarms(AlarmSnapshot((replace(on_the_line, value=88.0),), None, False, False,
                                     Priority.MEDIUM))["spo2"][1] == "** SpO2 < 90"


def test_audio_state_is_always_shown(bar: AlarmBar) -> None:
    bar.set_audio_output(True, "")
    bar.show_snapshot(AlarmSnapshot((), None, False, False, None), T0)
    assert bar.audio_state_text() == "Audio on"
    bar.show_snapshot(AlarmSnapshot((), T0 + 95, False, False, None), T0)
    assert bar.audio_state_text() == "AUDIO PAUSED 1:35"
    bar.show_snapshot(AlarmSnapshot((), None, True, True, None), T0)
    assert bar.audio_state_text() == "ALARMS OFF · AUDIO OFF"
    assert "ALARMS OFF" in bar.quiet_label.text()
    bar.set_audio_output(False, "no audio system (libpulse.so.0: cannot open shared object file)")
    # A fault of the computer is a short indicator; the reason is on hover (and in the log).
    assert bar.audio_label.text() == "ALARMS OFF · AUDIO OFF · NO SOUND"
    assert "libpulse.so.0" in bar.audio_label.toolTip()


def test_every_alarm_is_counted_when_there_are_more_than_rows(bar: AlarmBar) -> None:
    active = tuple(_alarm(f"a{i}", Priority.HIGH if i == 5 else Priority.LOW, f"alarm number {i}") for i in range(6))
    bar.show_snapshot(AlarmSnapshot(active, None, False, False, None), T0)
    assert [r.isVisible() for r in bar.rows] == [True, True, True, True]
    assert bar.more_label.isVisible() and "+2 more" in bar.more_label.text()
    assert theme.ALARM_COLOURS[Priority.HIGH] in bar.more_label.styleSheet()  # coloured as the most urgent hidden one
    assert "alarm number 5" in bar.more_label.toolTip()
    # Less room: fewer rows, a larger count, never a cut message.
    bar.set_height_budget(80)
    shown = [r for r in bar.rows if r.isVisible()]
    assert 1 <= len(shown) < 4 and f"+{6 - len(shown)} more" in bar.more_label.text()
    bar.set_height_budget(None)
    bar.show_snapshot(AlarmSnapshot(active[:2], None, False, False, None), T0)
    assert not bar.more_label.isVisible()


def test_a_long_message_wraps_instead_of_being_cut(bar: AlarmBar) -> None:
    text = "SBP 198 mmHg above 180 mmHg (baseline 142 + 40 %) — repeat NIBP to confirm, inform the physician " * 2
    bar.resize(1000, 400)
    bar.show_snapshot(AlarmSnapshot((_alarm("h", Priority.HIGH, text),), None, False, False, None), T0)
    bar.layout().activate()
    row = bar.rows[0]
    assert row.wordWrap() and text.strip() in row.text()
    assert row.heightForWidth(row.width()) > row.fontMetrics().height() * 1.5  # more than one line
    assert row.fully_visible(), (row.size(), row.heightForWidth(row.width()), bar.size())


def test_acknowledged_alarms_stay_listed_and_the_button_knows_there_is_nothing_left(bar: AlarmBar) -> None:
    bar.show_snapshot(AlarmSnapshot((_alarm("h", Priority.HIGH, "SpO2 86", acknowledged=True),), None, False,
                                    False, None), T0)
    assert "acknowledged" in bar.rows[0].text()
    assert not bar.ack_button.isEnabled()


def test_bursts_become_16_bit_pcm() -> None:
    samples = burst(Priority.MEDIUM, 44100)
    pcm = np.frombuffer(pcm16(samples), dtype="<i2")
    assert pcm.size == samples.size
    assert np.abs(pcm).max() <= 32767 and np.abs(pcm).max() > 1000
    assert pcm16(np.array([2.0, -2.0], dtype=np.float32)) == np.array([32767, -32767], dtype="<i2").tobytes()


def test_the_player_follows_the_engine_and_degrades_without_an_audio_device(qtbot: Any) -> None:
    available, detail = probe_audio()
    player = AlarmSoundPlayer()
    player.set_sounding(Priority.HIGH)
    assert player.sounding is Priority.HIGH
    if available:
        assert player.bursts_played == 1
    else:  # offscreen CI: nothing plays, nothing crashes, and the reason is given for the indicator
        assert detail and player.status == detail.upper() and player.bursts_played == 0
    player.set_sounding(None)
    assert player.sounding is None
    player.shutdown()
