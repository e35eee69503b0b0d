"""A score entered in error is corrected from the live window's score dialog, with the keyboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from tests.ui.conftest import stored_events
from ui.dialogs import EntryCorrection, LevelDialog

WAIT_MS = 15_000


def _tab_to(qtbot: Any, dialog: Any, widget: Any) -> None:
    """Tab through the dialog until ``widget`` has the focus (a few presses at most)."""
    for _ in range(8):
        if widget.hasFocus():
            return
        qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Tab)
    assert widget.hasFocus(), f"{widget!r} is not reached with Tab"


def test_the_score_dialog_offers_to_correct_the_last_entry_of_its_scale(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=10.0, first_status=True)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=WAIT_MS)

    qtbot.keyClick(w, Qt.Key.Key_M)
    assert isinstance(w.dialog, LevelDialog)
    assert w.dialog.findChild(EntryCorrection) is None  # nothing to correct yet
    qtbot.keyClick(w.dialog.list, Qt.Key.Key_1)  # typed for 4
    qtbot.waitUntil(lambda: len(stored_events(db_path, "score")) == 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: any(e.kind.value == "score" for e in w.events), timeout=WAIT_MS)

    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=WAIT_MS)
    qtbot.keyClick(w, Qt.Key.Key_M)
    dialog = w.dialog
    offered = dialog.findChild(EntryCorrection)
    assert offered is not None and offered.box.text().startswith("Corrects the last MOAA/S, MOAA/S 1 at ")
    assert not offered.reason.isEnabled()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=WAIT_MS)
    _tab_to(qtbot, dialog, offered.box)
    qtbot.keyClick(offered.box, Qt.Key.Key_Space)
    assert offered.box.isChecked() and offered.reason.hasFocus()  # ticked: the reason is typed next
    qtbot.keyClicks(offered.reason, "typed 1 for 4")
    _tab_to(qtbot, dialog, dialog.list)
    qtbot.keyClick(dialog.list, Qt.Key.Key_4)
    assert dialog.result() == LevelDialog.DialogCode.Accepted

    qtbot.waitUntil(lambda: len(stored_events(db_path, "score")) == 2, timeout=WAIT_MS)
    wrong, right = stored_events(db_path, "score")
    assert (wrong.detail["value"], right.detail["value"]) == (1, 4)
    assert right.detail["corrects_at"] == wrong.t and right.detail["correction_reason"] == "typed 1 for 4"
    # On the chart the wrong entry's marker says so.
    qtbot.waitUntil(lambda: any(text == "MOAA/S 1 (in error)" for _t, text, _c in w.chart._markers), timeout=WAIT_MS)
