"""A device whose clock is off is explained to the nurse: its values look old (or are timed at arrival)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.monitor.test_device_clock import _FastClockSender


@pytest.mark.parametrize(("offset_s", "said"), [
    (-59.0, "The device's clock is 59 s behind this computer's: its values look 59 s old."),
    (59.0, "The device's clock is 59 s ahead of this computer's: its values are timed at their arrival."),
])
def test_a_device_clock_that_is_off_is_explained_on_screen(qtbot: Any, db_path: Path, offset_s: float,
                                                         said: str) -> None:
    from ui.bridge import RecorderBridge
    from ui.live_window import LiveWindow

    sender = _FastClockSender(offset_s)
    store = Store(db_path)
    recorder = Recorder.new_session(store, sender, driver="hl7", port=None, plan=SessionPlan(1, 40, 30),
                                    alarms=AlarmEngine(), clock=sender.clock)
    window = LiveWindow(RecorderBridge(recorder), sound=False)
    qtbot.addWidget(window)
    window.on_updates([recorder.step() for _ in range(12)])
    assert said + " Ask for the device's clock to be set." in window.messages
    assert f"device clock {offset_s:+.0f} s" in [text for group in window.chart.marker_groups for _, text, _ in group]
    window.force_close()
    recorder.run(until=lambda r: True)
    store.close()
