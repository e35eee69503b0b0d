"""The windows around a device: resuming from the session browser, and the HL7 listener's address in Settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.app.device import DeviceSpec
from monitor.app.sessions import SessionSpec
from tests.ui.conftest import NURSE, crashed_on
from ui.dialogs import SignedInUser
from ui.settings_dialog import SettingsDialog

NONIN_8 = DeviceSpec(driver="nonin", port="loop://", settings={"format": "8"}, link_lost_after_s=7.5)
LISTENER = DeviceSpec(driver="hl7-mllp", port="127.0.0.1:27595")


def test_resume_recording_in_the_browser_reopens_the_nonin_in_format_8(qtbot: Any, db_path: Path) -> None:
    from ui.review_app import ReviewApp

    sid = crashed_on(db_path, NONIN_8)
    app = ReviewApp(db_path, SignedInUser(NURSE, "nurse"))
    try:
        app.resume(sid)
        qtbot.waitUntil(lambda: len(app.live) == 1, timeout=15_000)
        run, _store = app.live[0]
        qtbot.addWidget(run.window)
        assert run.window.device.driver == "nonin"
        assert run.window.device.settings == {"format": "8"}
        assert run.window.device.link_lost_after_s == 7.5
        assert run.bridge.recorder.source.decoder.data_format == 8
    finally:
        app.shutdown()


def _settings(qtbot: Any, current: DeviceSpec) -> SettingsDialog:
    dialog = SettingsDialog(None, current=current, nibp_minutes={"infusion": 5.0}, rules=[], can_edit_limits=False)
    qtbot.addWidget(dialog)
    return dialog


def test_the_listener_address_is_shown_kept_and_not_offered_as_a_change(qtbot: Any) -> None:
    dialog = _settings(qtbot, LISTENER)
    assert dialog.port_box.isEnabled()
    assert dialog.port_box.currentText() == "127.0.0.1:27595"
    assert not dialog.baud_box.isVisibleTo(dialog)  # a listener has no baud rate
    dialog.nibp_boxes["infusion"].setValue(10.0)  # only the cuff cycle changes
    assert not dialog.device_changed()
    assert dialog.choice().device.port == "127.0.0.1:27595"
    dialog.port_box.setEditText("127.0.0.1:27596")
    assert dialog.device_changed()
    assert dialog.choice().device.port == "127.0.0.1:27596"


def test_a_listener_on_its_default_address_shows_it_and_is_unchanged(qtbot: Any) -> None:
    dialog = _settings(qtbot, DeviceSpec(driver="hl7-mllp"))
    assert dialog.port_box.currentText() == "127.0.0.1:2575"
    assert not dialog.device_changed()


def test_changing_back_to_a_driver_restores_its_settings() -> None:
    masimo = NONIN_8.switched_to("masimo-ascii", "/dev/ttyUSB1", {})
    assert masimo.settings == {}
    back = masimo.switched_to("nonin", "loop://", {})
    assert back.settings == {"format": "8"}
    assert DeviceSpec.from_record(masimo.record()).switched_to("nonin", "loop://", {}).settings == {"format": "8"}


def test_at_start_a_resume_with_another_device_asks_and_the_answer_is_kept(qtbot: Any, monkeypatch: Any) -> None:
    """``gui --driver simulated`` and "Resume selected" on a Nonin session: the window asks which device."""
    from PySide6.QtWidgets import QMessageBox

    from monitor.app.sessions import OtherDeviceAtResume
    from ui.app import resume_device_choice

    spec = SessionSpec(device=DeviceSpec(), resume="s1")
    refused = OtherDeviceAtResume(NONIN_8, spec.device)
    for label, expected in (("Resume with nonin", (False, False)), ("Change to simulated", (True, True))):
        monkeypatch.setattr(QMessageBox, "exec", lambda box, label=label: next(
            b for b in box.buttons() if b.text() == label).click())
        chosen = resume_device_choice(spec, refused)
        assert chosen is not None and (chosen.device_given, chosen.change_device) == expected
    monkeypatch.setattr(QMessageBox, "exec", lambda box: next(
        b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.RejectRole).click())
    assert resume_device_choice(spec, refused) is None
