"""What a nurse in a hurry types after the key that opens a form reaches the form.

Keys go to the window that has the keyboard when they are pressed. A form opened by "M" takes the
keyboard a moment later (the window manager's round trip, or longer while the chair's window is busy
painting): keys pressed in between go to the chair's window. Found under Xvfb with openbox: "M" then "0"
typed while the window was busy for 150 ms left the MOAA/S form open at its preselected 5, which Enter
would then have recorded, and a note typed straight after "N" came out empty.

The tests hand the keys to the chair's window through the window system (``QTest.keyClick`` on its
``QWindow``), as the X server does in that moment, not to the form.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import stored_events


def _typed_at_the_window(window: Any, keys: str) -> None:
    handle = window.windowHandle()
    for char in keys:
        if char == "\n":
            QTest.keyClick(handle, Qt.Key.Key_Return)
        elif char == "-":
            QTest.keyClick(handle, Qt.Key.Key_Minus, Qt.KeyboardModifier.NoModifier)
        else:
            QTest.keyClick(handle, char)


def _before_the_form_has_the_keyboard(window: Any, qtbot: Any) -> None:
    """The moment after a form opened in which the window system still sends the keys to the chair's window (the
    offscreen platform gives the form the keyboard at once; X11 with a window manager does not)."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)


def _scores(db_path: Any, qtbot: Any, scale: str, count: int) -> list[Any]:
    qtbot.waitUntil(lambda: len([e for e in stored_events(db_path, "score") if e.detail["scale"] == scale]) >= count,
                    timeout=10_000)
    return [e.detail["value"] for e in stored_events(db_path, "score") if e.detail["scale"] == scale]


@pytest.mark.parametrize(("scale", "keys", "value"), [("MOAA/S", "m0", 0), ("MOAA/S", "m3", 3), ("RASS", "r-2", -2)])
def test_a_score_typed_straight_after_its_key_is_the_score_recorded(
    make_window: Any, qtbot: Any, db_path: Any, scale: str, keys: str, value: int
) -> None:
    window = make_window(first_status=True)
    _typed_at_the_window(window, keys[0])
    _before_the_form_has_the_keyboard(window, qtbot)
    _typed_at_the_window(window, keys[1:])
    assert _scores(db_path, qtbot, scale, 1) == [value]
    assert window.dialog is None


def test_a_note_typed_straight_after_n_keeps_every_letter_and_acts_on_nothing(
    make_window: Any, qtbot: Any, db_path: Any
) -> None:
    """Letters that are the window's own keys (P pause, A acknowledge, S audio pause, B cuff, X anxiety) are text
    in the note: none of them acts on the window."""
    window = make_window(first_status=True)
    fired: list[str] = []
    for key, shortcut in window.shortcuts.items():
        shortcut.activated.connect(lambda k=key: fired.append(k))
    _typed_at_the_window(window, "n")
    fired.clear()
    _before_the_form_has_the_keyboard(window, qtbot)
    _typed_at_the_window(window, "Pt anxious, BP ok")
    assert fired == []
    assert window.dialog is not None and window.dialog.text() == "Pt anxious, BP ok"
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(stored_events(db_path, "note")) == 1, timeout=10_000)
    assert stored_events(db_path, "note")[0].detail["text"] == "Pt anxious, BP ok"


def test_the_alarm_keys_typed_ahead_of_a_form_that_takes_no_text_act_on_nothing(make_window: Any, qtbot: Any) -> None:
    """A and S typed ahead of the MOAA/S form (a list, no text field) are the form's keys: no letter typed while a
    form is open acts on the alarms (they acknowledged, as they did in the form itself)."""
    window = make_window(first_status=True)
    acknowledged: list[str] = []
    window.shortcuts["A"].activated.disconnect()
    window.shortcuts["S"].activated.disconnect()
    window.acknowledge_alarms = lambda: acknowledged.append("A")  # type: ignore[method-assign]
    window.pause_audio = lambda: acknowledged.append("S")  # type: ignore[method-assign]
    _typed_at_the_window(window, "m")
    _before_the_form_has_the_keyboard(window, qtbot)
    _typed_at_the_window(window, "as")
    assert acknowledged == []
    assert window.dialog is not None and window.dialog.isVisible()


def test_a_click_on_the_window_behind_an_open_form_does_nothing(make_window: Any, qtbot: Any) -> None:
    """While a form is open the window behind it takes no clicks (as a window-modal form had it)."""
    window = make_window(first_status=True)
    window.add_note()
    button = window.phase_buttons["start_baseline"]
    phase_before = window.last_status.phase
    QTest.mouseClick(window.windowHandle(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     button.mapTo(window, QPoint(button.width() // 2, button.height() // 2)))
    QApplication.processEvents()
    qtbot.wait(300)
    assert window.dialog is not None and window.dialog.isVisible()
    assert window.last_status.phase == phase_before


def test_a_window_key_typed_ahead_of_a_list_form_does_not_act_on_the_window(make_window: Any, qtbot: Any) -> None:
    """X (anxiety) and K (checklist) typed into the MOAA/S form before it has the keyboard are the form's keys,
    which it does not use: nothing is recorded and the form stays open."""
    window = make_window(first_status=True)
    fired: list[str] = []
    for key, shortcut in window.shortcuts.items():
        shortcut.activated.connect(lambda k=key: fired.append(k))
    _typed_at_the_window(window, "m")
    form = window.dialog
    fired.clear()
    _before_the_form_has_the_keyboard(window, qtbot)
    _typed_at_the_window(window, "xk")
    assert fired == []
    assert window.dialog is form and form.isVisible()


def test_the_window_managers_close_button_does_not_throw_away_an_open_form(make_window: Any, qtbot: Any) -> None:
    """The close button on the window's frame, clicked while a half-typed note is open, leaves the note as it is
    (the window asks nothing and stays); it used to be taken like a window-modal form's window takes it."""
    window = make_window(first_status=True)
    window.add_note()
    form = window.dialog
    form.set_text("BP 150/90 after")
    window.windowHandle().close()  # as the window manager asks it
    QApplication.processEvents()
    assert window.isVisible() and window.bridge.running
    assert window.dialog is form and form.isVisible() and form.text() == "BP 150/90 after"


def test_tab_typed_ahead_moves_through_the_forms_fields(make_window: Any, qtbot: Any) -> None:
    """MRN, Tab, name typed before the patient form has the keyboard land in their own fields."""
    window = make_window(first_status=True)
    window.identify_patient()
    form = window.dialog
    _before_the_form_has_the_keyboard(window, qtbot)
    _typed_at_the_window(window, "MRN-77")
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_Tab)
    _typed_at_the_window(window, "Ann Lee")
    assert (form.mrn_edit.text(), form.name_edit.text()) == ("MRN-77", "Ann Lee")
