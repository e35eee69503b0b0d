"""The window's watchdog: a stalled recorder gives a flashing high-priority row and sound; values grey with age."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.model import Priority
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.ui.sound_spy import Sound


def test_a_stalled_recorder_is_an_alarm_with_sound_and_the_values_age(qtbot: Any, db_path: Path) -> None:
    from ui.bridge import RecorderBridge
    from ui.live_window import LiveWindow

    store = Store(db_path)
    recorder = Recorder.new_session(store, SimulatedSource(seed=2, speed=math.inf, start_time=1_790_000_000.0),
                                    driver="simulated", port=None, plan=SessionPlan(1, 40, 30), nurse="RN")
    bridge = RecorderBridge(recorder)
    window = LiveWindow(bridge, sound=False)
    qtbot.addWidget(window)
    window.sound = Sound()  # type: ignore[assignment]
    updates = [recorder.step() for _ in range(30)]
    window.on_updates(updates)
    assert window.hr_tile.state == "ok" and not window.alarm_bar.watchdog_row.isVisible()
    window.show()

    # The recorder thread stops turning (it is never started here): 10 s without a beat, no news for 20 s.
    recorder.last_beat = time.monotonic() - 10.0
    window._status_received_at = time.monotonic() - 20.0
    window._watch()
    row = window.alarm_bar.watchdog_row
    assert row.isVisible() and "MONITORING STALLED" in row.text() and row.priority is Priority.HIGH
    assert window.sound.sounding is Priority.HIGH
    assert window.hr_tile.state == "stale" and "no new value" in window.hr_tile.status.text()
    lit = row.lit
    window._watch()
    assert row.lit != lit  # flashing

    recorder.last_beat = time.monotonic()  # running again
    window._watch()
    assert not row.isVisible() and window.sound.sounding is None
    window.force_close()
    recorder.run(until=lambda r: True)
    store.close()
