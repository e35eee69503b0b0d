"""The mouse wheel turns a field's value only once the field has the keyboard; over any other it scrolls the form.

Found under Xvfb at 1280×800: the settings must be scrolled to reach OK, and three wheel clicks with the pointer
over the Infusion cuff field on the way changed its cycle from 5 to 2 minutes (over Simulator speed, 5.00 to 0.10),
without a click on either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget

import ui.form_room
from monitor.protocols import load_protocol
from tests.ui.test_forms_leave_the_alarm_bar import chair  # noqa: F401  (the fixture)
from ui.chair_dialogs import DoseDialog
from ui.settings_dialog import SettingsDialog

#: One click of a common mouse wheel, turned towards the user (down the form, down a value).
CLICK_DOWN = QPoint(0, -120)


@pytest.fixture
def settings(chair: Any, monkeypatch: pytest.MonkeyPatch, qtbot: Any) -> Callable[[], SettingsDialog]:  # noqa: F811
    """``settings()``: the settings open in a 1280×720 chair window, too short for them: they scroll."""

    def make() -> SettingsDialog:
        monkeypatch.setattr(ui.form_room, "screen_area", lambda _widget: QRect(0, 0, 1280, 720))
        window = chair(1280, 720)
        window.open_settings()
        dialog = window.dialog
        assert isinstance(dialog, SettingsDialog)
        QApplication.processEvents()
        dialog.activateWindow()
        qtbot.waitUntil(dialog.isActiveWindow, timeout=5000)
        return dialog

    return make


def _turn(field: QWidget, clicks: int = 3) -> None:
    """Wheel clicks down with the pointer over the middle of ``field``, sent to it."""
    middle = QPointF(field.width() / 2, field.height() / 2)
    for _ in range(clicks):
        QApplication.sendEvent(field, QWheelEvent(
            middle, QPointF(field.mapToGlobal(middle)), QPoint(), CLICK_DOWN, Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))


def _scrolled(dialog: QWidget) -> int:
    """How far the form is scrolled down, in pixels."""
    body = dialog.findChild(QScrollArea)
    assert body is not None and body.verticalScrollBar().maximum() > 0, "the form scrolls at this size"
    return int(body.verticalScrollBar().value())


def test_the_wheel_over_settings_fields_scrolls_them_unless_one_has_the_keyboard(
        settings: Callable[[], SettingsDialog], qtbot: Any) -> None:
    dialog = settings()
    cuff, speed, scenario = dialog.nibp_boxes["infusion"], dialog.speed_box, dialog.scenario_box
    values = (cuff.value(), speed.value(), scenario.currentIndex())
    assert cuff.value() == 5.0 and speed.value() > speed.minimum()
    assert not any(field.hasFocus() for field in (cuff, speed, scenario))
    assert _scrolled(dialog) == 0

    # Scrolling down to OK over the fields on the way, a click over each: the form moves, no value does.
    for field in (speed, scenario, cuff):
        before = _scrolled(dialog)
        _turn(field, clicks=1)
        assert _scrolled(dialog) > before, type(field).__name__
    assert (cuff.value(), speed.value(), scenario.currentIndex()) == values
    # A real wheel would have given them the keyboard with its first click (Qt's wheel focus): it does not.
    assert all(field.focusPolicy() == Qt.FocusPolicy.StrongFocus for field in (cuff, speed, scenario))

    # Clicked or tabbed into, the field is the nurse's choice: the wheel turns it, and the form stays.
    cuff.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(cuff.hasFocus, timeout=5000)
    where = _scrolled(dialog)
    _turn(cuff)
    assert cuff.value() == 2.0
    assert _scrolled(dialog) == where
    _turn(speed)
    assert speed.value() == values[1]


def test_a_form_that_does_not_scroll_keeps_its_values_under_the_wheel(qtbot: Any) -> None:
    """The dose form shown on its own, with no room to scroll: a wheel turn over an unfocused field does nothing."""
    dialog = DoseDialog(None, load_protocol("ketamine-iv"), 70.0)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=5000)
    dialog.lot.setFocus()
    qtbot.waitUntil(dialog.lot.hasFocus, timeout=5000)
    amount = dialog.amount.value()
    _turn(dialog.weight)
    _turn(dialog.amount)
    assert (dialog.weight.value(), dialog.amount.value()) == (70.0, amount)
    dialog.weight.setFocus()
    qtbot.waitUntil(dialog.weight.hasFocus, timeout=5000)
    _turn(dialog.weight)
    assert dialog.weight.value() < 70.0
