"""The window shows live values from a recorder running on its own thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.core.readings import Parameter
from drivers.simulated.driver import SimulatedSource
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store


@pytest.fixture
def live_window(qtbot, db_path: Path):  # type: ignore[no-untyped-def]
    from ui.bridge import RecorderBridge
    from ui.live_window import LiveWindow

    store = Store(db_path)
    source = SimulatedSource(scenario="normal", seed=2, speed=60.0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None,
                                    plan=SessionPlan(1, 40, 30), autopilot=True, nurse="RN")
    bridge = RecorderBridge(recorder)
    window = LiveWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    bridge.start()
    yield window
    window.force_close()
    store.close()


def test_window_shows_live_values_and_the_phase(qtbot, live_window) -> None:  # type: ignore[no-untyped-def]
    window = live_window
    qtbot.waitUntil(lambda: window.hr_tile.value.text().isdigit(), timeout=10_000)
    qtbot.waitUntil(lambda: window.spo2_tile.value.text().isdigit(), timeout=10_000)
    assert 40 <= int(window.hr_tile.value.text()) <= 120
    assert 90 <= int(window.spo2_tile.value.text()) <= 100
    qtbot.waitUntil(lambda: "BASELINE" in window.header.text(), timeout=10_000)
    # The trend holds what arrived, one point per simulated second.
    qtbot.waitUntil(lambda: window.chart.series[Parameter.SPO2].good.n >= 30, timeout=10_000)


def test_closing_the_window_closes_the_session_with_everything_stored(qtbot, live_window, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = live_window
    qtbot.waitUntil(lambda: window.spo2_tile.value.text().isdigit(), timeout=10_000)
    shown = window.last_status.stored_readings
    window.force_close()  # as after the nurse confirmed (the question itself is tested in test_live_window)
    assert not window.bridge.recorder.running
    with Store(db_path) as store:
        [summary] = store.sessions()
        assert summary.status == "closed"
        assert store.reading_count(summary.id) >= shown
