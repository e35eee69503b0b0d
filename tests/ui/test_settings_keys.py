"""The settings dialog from the keyboard, and what it keeps while it asks a second question.

Found in the live window: cancelling "Change device" (asked after Settings' OK) also closed Settings, and what
the nurse had typed there was gone (the driver settings, the other device), while the cuff cycle and limit
changes typed with it had already been sent. Tab in the alarm-limits table went from cell to cell and never
left it: OK, Cancel and Accounts could not be reached with Tab, nor the cuff cycle with Shift+Tab.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QWidget

from monitor.alarms.profile import default_profile
from monitor.app.device import DeviceSpec
from monitor.session import Phase
from ui import theme
from ui.dialogs import ConfirmDialog
from ui.settings_dialog import SettingsDialog

WAIT_MS = 5000


def _question() -> ConfirmDialog:
    """The one confirmation open on screen, whoever opened it."""
    [question] = [w for w in QApplication.topLevelWidgets() if isinstance(w, ConfirmDialog) and w.isVisible()]
    return question


def _admin_window_counting_pauses(make_window: Any) -> tuple[Any, list[bool]]:
    """An admin's live window whose Audio pause clicks are counted, not acted on."""
    w = make_window(role="admin", first_status=True)
    paused: list[bool] = []
    w.alarm_bar.pause_requested.disconnect()
    w.alarm_bar.pause_requested.connect(lambda: paused.append(True))
    return w, paused


def _click_audio_pause(w: Any) -> None:
    """A click on the alarm bar's Audio pause, as the window system delivers it (modality applies)."""
    button = w.alarm_bar.pause_button
    QTest.mouseClick(w.windowHandle(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     button.mapTo(w, QPoint(button.width() // 2, button.height() // 2)))


def _limit_row(dialog: SettingsDialog, rule_id: str) -> int:
    table = dialog.limits_table
    return next(row for row in range(table.rowCount()) if table.item(row, 0).text() == rule_id)


def test_cancelling_the_device_change_returns_to_settings_with_everything_typed(
    qtbot: Any, make_window: Any, monkeypatch: Any
) -> None:
    w = make_window(role="admin", first_status=True)
    sent: list[str] = []
    monkeypatch.setattr(w, "send", lambda name, *_args, **_kwargs: sent.append(name))
    w.settings_button.click()
    dialog = w.dialog
    assert isinstance(dialog, SettingsDialog)
    row = _limit_row(dialog, "hr_high")
    dialog.limits_table.item(row, 3).setText("131")
    dialog.nibp_boxes["infusion"].setValue(10.0)
    dialog.scenario_box.setCurrentText("hypertension")
    dialog.driver_settings.setText("seed_note=7")
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)

    ok.click()
    question = _question()
    question.no_button.click()

    # Back in Settings, as it was left: nothing sent, nothing typed lost.
    assert w.dialog is dialog and dialog.isVisible()
    assert sent == []
    assert dialog.limits_table.item(row, 3).text() == "131"
    assert dialog.nibp_boxes["infusion"].value() == 10.0
    assert dialog.scenario_box.currentText() == "hypertension"
    assert dialog.driver_settings.text() == "seed_note=7"

    # Escape in the question is a cancel too; the dialog stays.
    ok.click()
    qtbot.keyClick(_question(), Qt.Key.Key_Escape)
    assert dialog.isVisible() and sent == []

    # Confirmed, everything goes at once: the cuff cycle, the limit, and the device (opened by the window).
    changed: list[DeviceSpec] = []
    monkeypatch.setattr(w, "change_device", changed.append)
    ok.click()
    _question().yes_button.click()
    assert not dialog.isVisible()
    assert sent == ["set_nibp_interval", "set_limit"]
    [device] = changed
    assert device.scenario == "hypertension" and device.settings == {"seed_note": "7"}


def test_while_the_device_change_is_asked_settings_is_held_and_the_alarm_bar_takes_a_click(
    qtbot: Any, make_window: Any
) -> None:
    """Asked window-modal, the question held the window too: Audio pause took no click. Settings is held instead
    (Yes confirms the device the question names), and a key typed at the window goes to the question."""
    w, paused = _admin_window_counting_pauses(make_window)
    w.settings_button.click()
    dialog = w.dialog
    dialog.scenario_box.setCurrentText("hypertension")
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    ok.click()
    assert dialog.device_question is _question()
    assert not dialog.scenario_box.isEnabled() and not ok.isEnabled()
    _click_audio_pause(w)
    assert paused == [True]
    QTest.keyClick(w.windowHandle(), Qt.Key.Key_Escape)  # handed to the question, not to Settings
    assert dialog.device_question is None and dialog.isVisible()
    assert dialog.scenario_box.isEnabled() and dialog.scenario_box.currentText() == "hypertension"


def test_settings_without_a_device_change_ask_nothing(make_window: Any, monkeypatch: Any) -> None:
    w = make_window(role="admin", first_status=True)
    sent: list[str] = []
    monkeypatch.setattr(w, "send", lambda name, *_args, **_kwargs: sent.append(name))
    w.settings_button.click()
    dialog = w.dialog
    dialog.nibp_boxes["recovery"].setValue(10.0)
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    assert not dialog.isVisible() and w.dialog is None
    assert sent == ["set_nibp_interval"]


def test_closing_the_accounts_over_settings_comes_back_to_what_was_typed(make_window: Any) -> None:
    """The other question Settings opens over itself: Accounts…, closed, leaves Settings as it was."""
    w = make_window(role="admin", first_status=True)
    w.settings_button.click()
    dialog = w.dialog
    dialog.nibp_boxes["recovery"].setValue(12.0)
    dialog.driver_settings.setText("seed_note=7")
    dialog.accounts_button.click()
    accounts = w.accounts_dialog
    assert accounts.isVisible()
    accounts.reject()
    assert w.dialog is dialog and dialog.isVisible()
    assert dialog.nibp_boxes["recovery"].value() == 12.0 and dialog.driver_settings.text() == "seed_note=7"


def _settings(qtbot: Any, *, can_edit_limits: bool, open_accounts: Any = None) -> SettingsDialog:
    dialog = SettingsDialog(None, current=DeviceSpec(driver="simulated"), nibp_minutes={"infusion": 5.0},
                            rules=list(default_profile().rules_for(Phase.INFUSION)), can_edit_limits=can_edit_limits,
                            open_accounts=open_accounts)
    dialog.setStyleSheet(theme.STYLE_SHEET)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=WAIT_MS)
    return dialog


def _focus(qtbot: Any, widget: QWidget) -> None:
    widget.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=WAIT_MS)


def test_tab_leaves_the_limits_table_for_the_buttons_and_shift_tab_for_the_cuff_cycle(qtbot: Any) -> None:
    dialog = _settings(qtbot, can_edit_limits=True, open_accounts=lambda _d: None)
    table = dialog.limits_table
    _focus(qtbot, table)
    table.setCurrentCell(0, 3)
    qtbot.keyClick(table, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is dialog.accounts_button
    _focus(qtbot, table)
    qtbot.keyClick(table, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert QApplication.focusWidget() is dialog.nibp_boxes["recovery"]
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    _focus(qtbot, dialog.accounts_button)
    qtbot.keyClick(dialog.accounts_button, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is ok


def test_in_the_limits_table_arrows_move_and_f2_or_typing_edits_a_limit(qtbot: Any) -> None:
    dialog = _settings(qtbot, can_edit_limits=True)
    table = dialog.limits_table
    _focus(qtbot, table)
    table.setCurrentCell(0, 3)
    qtbot.keyClick(table, Qt.Key.Key_Down)
    assert (table.currentRow(), table.currentColumn()) == (1, 3)
    qtbot.keyClick(table, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert editor is not table and table.isAncestorOf(editor)
    editor.selectAll()
    qtbot.keyClicks(editor, "77")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: table.item(1, 3).text() == "77", timeout=WAIT_MS)  # Qt commits on its next turn
    qtbot.keyClick(table, Qt.Key.Key_Up)
    qtbot.keyClick(table, "4")  # typing starts an edit of the cell the keyboard is on
    qtbot.keyClicks(QApplication.focusWidget(), "2")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: table.item(0, 3).text() == "42", timeout=WAIT_MS)
    # The limit typed last, Tab commits it and goes on from the table (not to the next cell).
    qtbot.keyClick(table, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    editor.selectAll()
    qtbot.keyClicks(editor, "43")
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: table.item(0, 3).text() == "43", timeout=WAIT_MS)
    assert QApplication.focusWidget() is dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    _focus(qtbot, table)
    qtbot.keyClick(table, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    editor.selectAll()
    qtbot.keyClicks(editor, "44")
    qtbot.keyClick(editor, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: table.item(0, 3).text() == "44", timeout=WAIT_MS)
    assert QApplication.focusWidget() is dialog.nibp_boxes["recovery"]


def test_while_accounts_is_open_over_settings_the_alarm_bar_takes_a_click(qtbot: Any, make_window: Any) -> None:
    """Accounts… was opened window-modal over Settings, which held the live window behind it too: Audio pause and
    Acknowledge took no click while an admin worked on the accounts. It is held like the device question now."""
    w, paused = _admin_window_counting_pauses(make_window)
    w.settings_button.click()
    dialog = w.dialog
    dialog.nibp_boxes["recovery"].setValue(12.0)
    dialog.accounts_button.click()
    accounts = w.accounts_dialog
    assert accounts.isVisible() and accounts.windowModality() == Qt.WindowModality.NonModal
    assert dialog.open_question() is accounts and not dialog.nibp_boxes["recovery"].isEnabled()
    _click_audio_pause(w)
    assert paused == [True]
    accounts.reject()
    assert dialog.open_question() is None and dialog.isVisible()
    assert dialog.nibp_boxes["recovery"].isEnabled() and dialog.nibp_boxes["recovery"].value() == 12.0
