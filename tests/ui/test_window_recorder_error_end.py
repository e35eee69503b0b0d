"""The recorder thread ends on an error (not a stop asked for) while the live window shows the session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.alarms.model import Priority
from tests.ui.sound_spy import Sound


def test_a_recording_that_ends_on_an_error_is_a_high_priority_alarm(qtbot: Any, make_window: Any,
                                                                    db_path: Path) -> None:
    w = make_window(scenario="normal", speed=60.0, plan="baseline:1,infusion:40,recovery:30", first_status=True)
    w.sound = Sound()
    recorder = w.bridge.recorder

    def fails(*_args: Any, **_kw: Any) -> None:
        raise SystemExit("a library gave up")  # not an Exception: the loop's per-turn guard does not hold it

    recorder.alarms.tick = fails
    qtbot.waitUntil(lambda: w.end_status is not None, timeout=20_000)
    assert w.end_status.startswith("error")
    row = w.alarm_bar.watchdog_row
    assert (row.isVisible() and row.priority is Priority.HIGH) or w.sound.sounding is Priority.HIGH, (
        f"monitoring ended by an error ({w.end_status}); the sound is {w.sound.sounding}, no alarm row; the screen "
        f"says: {w.message.text()!r}")
