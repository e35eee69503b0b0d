"""Once the recording has ended, no button that records into the session is offered.

Found under Xvfb at 1280×800 with esketamine: after the session completed, "Breathing (E)" stayed enabled, and
pressing it was refused with a message (the end's list of buttons had left it out).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QPushButton

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.protocols import SHIPPED, load_protocol
from monitor.recorder import Recorder
from monitor.store import Store


@pytest.fixture(params=SHIPPED)
def window(request: pytest.FixtureRequest, qtbot: Any, db_path: Path) -> Iterator[Any]:
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    store = Store(db_path)
    recorder = Recorder.new_session(
        store, SimulatedSource(scenario="normal", seed=3, speed=60.0), driver="simulated", port=None,
        plan=SessionPlan(1, 40, 30), nurse="AD", alarms=AlarmEngine(), protocol=load_protocol(request.param))
    window = LiveWindow(RecorderBridge(recorder), SignedInUser("AD", "admin"), sound=False)
    qtbot.addWidget(window)
    window._watch_timer.stop()  # the recorder does not run: no stall alarm
    window.show()
    yield window
    window.force_close()
    store.close()


@pytest.mark.parametrize("status", ["complete", "stopped"])
def test_only_the_buttons_that_record_nothing_stay_enabled(window: Any, status: str) -> None:
    window.show_status(window.bridge.recorder.status())
    QApplication.processEvents()
    window.on_finished(status)
    QApplication.processEvents()
    kept = {window.settings_button, window.sign_in_button, window.lock_button, window.sessions_button}
    shown = [b for b in window.controls.findChildren(QPushButton) if b.isVisibleTo(window)]
    assert window.breathing_button in shown or not window._asks_breathing
    enabled = [b.text() for b in shown if b.isEnabled() and b not in kept]
    assert enabled == [], f"still offered after the recording {status}: {enabled}"
    assert not window.header.patient_button.isEnabled()
