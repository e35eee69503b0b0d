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


def test_a_failed_turn_is_a_high_priority_row_at_the_next_tick(qtbot: Any, db_path: Path) -> None:
    """A turn that fails is named on the window's next watchdog tick (a quarter of a second), not 3 s later while
    the readings go unjudged; the window's clock plays no part (the recorder beat just before)."""
    from monitor.alarms.engine import AlarmEngine
    from monitor.session import Session
    from ui.bridge import RecorderBridge
    from ui.live_window import LiveWindow

    store = Store(db_path)
    engine = AlarmEngine()
    recorder = Recorder.new_session(store, SimulatedSource(seed=2, speed=math.inf, start_time=1_790_000_000.0),
                                    driver="simulated", port=None, plan=SessionPlan(1, 40, 30), nurse="RN",
                                    alarms=engine)
    window = LiveWindow(RecorderBridge(recorder), sound=False)
    qtbot.addWidget(window)
    window.sound = Sound()  # type: ignore[assignment]
    window.on_updates([recorder.step() for _ in range(5)])
    window.show()

    failures: list[int] = []

    def tick(now: float, session: Session) -> None:
        failures.append(1)
        if len(failures) >= 20:
            recorder.request_stop()  # a loop that never asked ``until`` would never end
        raise RuntimeError("the alarm engine cannot judge this turn")

    engine.tick = tick  # type: ignore[method-assign]
    row = window.alarm_bar.watchdog_row
    shown: list[tuple[bool, str, object]] = []

    def watch_once(_recorder: Recorder) -> bool:
        window._watch()  # the window's watchdog tick, right after the failed turn
        shown.append((row.isVisible(), row.text(), window.sound.sounding))  # type: ignore[attr-defined]
        return True

    recorder.run(until=watch_once)
    assert len(failures) == 1 and len(shown) == 1
    [(visible, text, sounding)] = shown
    assert visible and "MONITORING FAILING" in text and "cannot judge this turn" in text
    assert row.priority is Priority.HIGH and sounding is Priority.HIGH
    window.force_close()
    store.close()


def test_the_cuff_value_greys_with_the_others_while_monitoring_is_stopped(qtbot: Any, db_path: Path) -> None:
    """The NIBP tile shows its value with the cuff's own age, so the seconds without news never grey it: a stalled
    recording must, as it greys HR and SpO2 (and it comes back when the recording runs again)."""
    from ui.bridge import RecorderBridge
    from ui.live_window import LiveWindow

    store = Store(db_path)
    recorder = Recorder.new_session(store, SimulatedSource(seed=2, speed=math.inf, start_time=1_790_000_000.0),
                                    driver="simulated", port=None, plan=SessionPlan(1, 40, 30), nurse="RN")
    window = LiveWindow(RecorderBridge(recorder), sound=False)
    qtbot.addWidget(window)
    recorder.submit("nibp_now", "RN")
    window.on_updates([recorder.step() for _ in range(60)])
    tiles = (window.hr_tile, window.spo2_tile, window.nibp_tile)
    assert [t.state for t in tiles] == ["ok", "ok", "ok"] and "/" in window.nibp_tile.value.text()
    cuff_age = window.nibp_tile.status.text()

    recorder.last_beat = time.monotonic() - 10.0  # the recorder's thread stops turning
    window._status_received_at = time.monotonic() - 20.0
    window._watch()
    assert "MONITORING STALLED" in window.alarm_bar.watchdog_row.text()
    assert [t.state for t in tiles] == ["stale", "stale", "stale"]
    status = window.nibp_tile.status.text()
    assert status.startswith("monitoring stopped · ") and status.endswith(("ago", "now")), "the cuff keeps its age"

    recorder.last_beat = time.monotonic()  # running again
    window._status_received_at = time.monotonic()
    window._watch()
    assert not window.alarm_bar.watchdog_row.isVisible()
    assert [t.state for t in tiles] == ["ok", "ok", "ok"] and window.nibp_tile.status.text() == cuff_age
    window.force_close()
    recorder.run(until=lambda r: True)
    store.close()
