"""The REMS form's ready time and its "known" box agree whatever order the nurse uses.

Typing a time ticked the box; a Space the nurse then pressed on it, meaning to tick it, unticked it, and the form
sent no ready time. The first press after a typed time now leaves the box ticked; a further press unticks it.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt

from monitor import rems

STARTED = datetime(2026, 3, 10, 14, 0).timestamp()
NOW = STARTED + 2 * 3600.0  # the form filled at 16:00


def _dialog(qtbot):
    from ui.chair_dialogs import RemsDialog

    dialog = RemsDialog(None, STARTED, {}, now=NOW)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    dialog.ready.setFocus()
    qtbot.waitUntil(dialog.ready.hasFocus, timeout=5000)
    return dialog


def _type_time(qtbot, dialog, hhmm: str) -> None:
    from PySide6.QtWidgets import QTimeEdit

    dialog.ready.setSelectedSection(QTimeEdit.Section.HourSection)
    qtbot.keyClicks(dialog.ready, hhmm)
    assert dialog.ready.time().toString("HH:mm") == f"{hhmm[:2]}:{hhmm[2:]}"


def _sent(dialog) -> str | None:
    ready = dialog.values().get("ready_to_leave_at")
    if ready is None:
        return None
    return datetime.fromtimestamp(rems.check_answer("ready_to_leave_at", ready)).strftime("%H:%M")


def test_space_on_the_box_after_typing_the_time_keeps_it(qtbot) -> None:
    dialog = _dialog(qtbot)
    _type_time(qtbot, dialog, "1430")
    qtbot.keyClick(dialog.ready, Qt.Key.Key_Tab)  # the hidden "which" box is skipped
    qtbot.waitUntil(dialog.ready_known.hasFocus, timeout=5000)
    qtbot.keyClick(dialog.ready_known, Qt.Key.Key_Space)
    assert dialog.ready_known.isChecked()
    assert _sent(dialog) == "14:30"


def test_a_second_press_unticks_the_box_and_no_time_is_sent(qtbot) -> None:
    dialog = _dialog(qtbot)
    _type_time(qtbot, dialog, "1430")
    qtbot.keyClick(dialog.ready_known, Qt.Key.Key_Space)
    qtbot.keyClick(dialog.ready_known, Qt.Key.Key_Space)
    assert not dialog.ready_known.isChecked()
    assert _sent(dialog) is None


def test_ticking_first_then_typing_sends_the_typed_time(qtbot) -> None:
    dialog = _dialog(qtbot)
    qtbot.keyClick(dialog.ready_known, Qt.Key.Key_Space)
    assert dialog.ready_known.isChecked()
    dialog.ready.setFocus()
    qtbot.waitUntil(dialog.ready.hasFocus, timeout=5000)
    _type_time(qtbot, dialog, "1445")
    assert dialog.ready_known.isChecked()
    assert _sent(dialog) == "14:45"
    # The nurse had ticked the box herself: a press now unticks it.
    qtbot.keyClick(dialog.ready_known, Qt.Key.Key_Space)
    assert _sent(dialog) is None


def test_a_time_typed_again_after_unticking_ticks_the_box_again(qtbot) -> None:
    dialog = _dialog(qtbot)
    _type_time(qtbot, dialog, "1430")
    dialog.ready_known.click()
    dialog.ready_known.click()
    assert _sent(dialog) is None
    dialog.ready.setFocus()
    qtbot.waitUntil(dialog.ready.hasFocus, timeout=5000)
    _type_time(qtbot, dialog, "1510")
    qtbot.keyClick(dialog.ready_known, Qt.Key.Key_Space)
    assert _sent(dialog) == "15:10"
