"""The live window's own update handler fails on every tick while the recording goes on."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from monitor.alarms.model import Priority
from tests.ui.sound_spy import Sound


@pytest.mark.qt_no_exception_capture
def test_a_window_whose_alarm_drawing_fails_tells_the_nurse(qtbot: Any, make_window: Any, db_path: Path) -> None:
    w = make_window(scenario="desaturation", speed=120.0, plan="baseline:1,infusion:40,recovery:30", first_status=True)
    w.sound = Sound()
    recorder = w.bridge.recorder
    engine_high: list[bool] = []
    recorder.add_listener(lambda u: engine_high.append(
        u.alarms is not None and any(a.priority is Priority.HIGH and a.parameter == "spo2" for a in u.alarms.active)))

    def broken(*_args: Any, **_kw: Any) -> None:
        raise RuntimeError("drawing failed")

    w.alarm_bar.show_snapshot = broken  # an exception inside the window's tick, every tick from now on
    qtbot.waitUntil(lambda: any(engine_high), timeout=60_000)
    qtbot.wait(4000)  # longer than the watchdog's 3 s
    # The recorder keeps judging: the engine holds a high SpO2 alarm.
    assert any(engine_high) and recorder.running
    values_current = time.monotonic() - w._status_received_at < 1.0
    row = w.alarm_bar.watchdog_row
    told = row.isVisible() and row.priority is Priority.HIGH and w.sound.sounding is Priority.HIGH
    assert told, (f"high SpO2 alarm in the engine, values on screen current={values_current}, "
                  f"alarm row shown={row.isVisible()}, sound={w.sound.sounding}")
    assert not values_current


