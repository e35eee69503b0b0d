"""The locked screen: buttons that would not work show as disabled, whatever the alarms do."""

from __future__ import annotations

from typing import Any

from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmSnapshot, Priority

T0 = 1_790_000_000.0


def test_acknowledge_stays_disabled_at_the_locked_screen_when_an_alarm_arrives(make_window: Any, qtbot: Any) -> None:
    window = make_window(first_status=True)
    window.set_locked(True)
    assert not window.alarm_bar.ack_button.isEnabled()
    alarm = AlarmRecord("a1", "spo2_low_severe", "spo2", Priority.HIGH, AlarmKind.PHYSIOLOGICAL, "SpO2 84 < 85 %",
                        T0, value=84.0, limit=85.0)
    window.show_alarms(AlarmSnapshot((alarm,), None, False, False, Priority.HIGH), T0 + 1)
    assert window.alarm_bar.pause_button.isEnabled()
    assert not window.alarm_bar.ack_button.isEnabled(), (
        "the locked screen shows 'Acknowledge (A)' enabled, yet pressing it is refused until someone signs in")
