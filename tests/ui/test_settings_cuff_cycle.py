"""The settings' cuff cycle says which phases have none, and names the phases as the session's protocol does.

Found under Xvfb at 1280×800 in an esketamine session: Settings showed "Infusion 5" minutes while the header said
"no automatic cuff in this phase" during dosing (the protocol starts none between the sprays), and named the
phases "Baseline / Infusion / Recovery" where every button said pre-dose, dosing and observation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QFormLayout, QLabel

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.profile import default_profile
from monitor.app.device import DeviceSpec
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.session import Phase
from monitor.store import Store
from ui.settings_dialog import NO_CUFF_CYCLE, SettingsDialog

WORDS = {"baseline": "pre-dose", "infusion": "dosing", "recovery": "observation"}


def _row_label(dialog: SettingsDialog, phase: str) -> str:
    box = dialog.nibp_boxes[phase]
    form = box.parentWidget().layout()
    assert isinstance(form, QFormLayout)
    label = form.labelForField(box)
    assert isinstance(label, QLabel)
    return label.text()


@pytest.fixture
def esketamine_window(qtbot: Any, db_path: Path) -> Iterator[Any]:
    """A nurse's live window of an esketamine session, fed by nothing (the recorder does not run)."""
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    store = Store(db_path)
    protocol = load_protocol("esketamine-nasal")
    recorder = Recorder.new_session(
        store, SimulatedSource(scenario="normal", seed=3, speed=60.0), driver="simulated", port=None,
        plan=protocol.plan(), nurse="NU", alarms=AlarmEngine(), nibp_schedule=protocol.cuff, protocol=protocol)
    window = LiveWindow(RecorderBridge(recorder), SignedInUser("NU", "nurse"), sound=False)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.force_close()
    store.close()


def test_a_phase_without_a_cuff_cycle_says_so_in_the_protocols_words(esketamine_window: Any) -> None:
    window = esketamine_window
    assert window.bridge.recorder.session.nibp_schedule.infusion_s is None  # the protocol's: no cuff while dosing
    window.open_settings()
    dialog = window.dialog
    assert isinstance(dialog, SettingsDialog) and dialog.isVisible()
    QApplication.processEvents()
    dosing = dialog.nibp_boxes["infusion"]
    assert dosing.text() == NO_CUFF_CYCLE
    assert dialog.nibp_boxes["recovery"].text() == "20"
    assert [_row_label(dialog, p) for p in ("baseline", "infusion", "recovery")] == ["Pre-dose", "Dosing",
                                                                                    "Observation"]
    assert dialog.choice().nibp_minutes == {}  # OK without a change sends none


def test_a_cycle_chosen_for_such_a_phase_is_sent_and_none_again_is_no_change(qtbot: Any) -> None:
    dialog = SettingsDialog(None, current=DeviceSpec(driver="simulated"),
                            nibp_minutes={"baseline": 5.0, "infusion": None, "recovery": 20.0},
                            rules=list(default_profile().rules_for(Phase.INFUSION)), can_edit_limits=False,
                            phase_words=WORDS)
    qtbot.addWidget(dialog)
    dosing, observation = dialog.nibp_boxes["infusion"], dialog.nibp_boxes["recovery"]
    dosing.setValue(10)
    assert dialog.choice().nibp_minutes == {"infusion": 10.0}
    dosing.setValue(0)
    assert dosing.text() == NO_CUFF_CYCLE
    assert dialog.choice().nibp_minutes == {}
    # A phase that has a cycle keeps the clinical range: it cannot be set to none here.
    observation.setValue(0)
    assert observation.value() == 1.0
