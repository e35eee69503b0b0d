"""The timer that brings the recorder's news to the live window stops while the recording goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.alarms.model import Priority


def test_a_window_that_no_longer_receives_the_recording_alarms(qtbot: Any, make_window: Any, db_path: Path) -> None:
    w = make_window(scenario="desaturation", speed=120.0, plan="baseline:1,infusion:40,recovery:30", first_status=True)
    recorder = w.bridge.recorder
    engine_high: list[bool] = []
    recorder.add_listener(lambda u: engine_high.append(
        u.alarms is not None and any(a.priority is Priority.HIGH and a.parameter == "spo2" for a in u.alarms.active)))
    w.bridge._timer.stop()  # the window's drain timer stops; the recorder thread runs on
    qtbot.waitUntil(lambda: any(engine_high), timeout=60_000)
    qtbot.wait(4000)
    assert recorder.running and not w.watchdog.check()  # the recorder itself is well
    assert w.hr_tile.state == "stale"  # the values do age ...
    row = w.alarm_bar.watchdog_row
    assert row.isVisible() and row.priority is Priority.HIGH, (  # ... but is anyone alarmed?
        "the recorder holds a high SpO2 alarm; the window has had no news for over 4 s and shows no alarm")
