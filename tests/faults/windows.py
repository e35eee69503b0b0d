"""A live window recording a simulated session into a given database, for the fault tests that fail its disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.app.device import DeviceSpec
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from ui.bridge import RecorderBridge
from ui.dialogs import SignedInUser
from ui.live_window import LiveWindow

WAIT_MS = 20_000


def recording_window(qtbot: Any, db_path: Path, *, scenario: str, speed: float, autopilot: bool
                     ) -> tuple[Store, Recorder, LiveWindow]:
    """The store, recorder and shown window of a new session (nurse AB) in ``db_path``, once the window shows the
    recorder's first status. The caller closes the window (``force_close``) and the store."""
    store = Store(db_path)
    source = SimulatedSource(scenario=scenario, seed=3, speed=speed)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30),
                                    autopilot=autopilot, nurse="AB", alarms=AlarmEngine())
    bridge = RecorderBridge(recorder)
    window = LiveWindow(bridge, SignedInUser("AB", "nurse"),
                        device=DeviceSpec(driver="simulated", scenario=scenario, speed=speed))
    qtbot.addWidget(window)
    window.show()
    bridge.start()
    qtbot.waitUntil(lambda: window.last_status is not None, timeout=WAIT_MS)
    return store, recorder, window
