"""A button clicked with the mouse does what its key does.

Qt's ``clicked`` signal carries a ``checked`` flag; a button whose action takes arguments with defaults (the quick
events' buttons) received that False as its first argument: a click on "Dose plan" or "Intervention" recorded a
quick event ``what: false`` instead of opening their forms, and "Nausea/vomiting" and "Anxiety" were recorded under
``what: false`` too.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from tests.ui.conftest import stored_events
from ui.chair_dialogs import DoseDialog, InterventionDialog


def test_each_quick_events_button_clicked_does_what_its_key_does(qtbot: Any, make_window: Any, db_path: Any) -> None:
    w = make_window(speed=10.0, first_status=True)
    buttons = w.quick_buttons

    qtbot.mouseClick(buttons["dose_change"], Qt.MouseButton.LeftButton)
    assert isinstance(w.dialog, DoseDialog), w.dialog
    w.dialog.reject()
    qtbot.mouseClick(buttons["intervention"], Qt.MouseButton.LeftButton)
    assert isinstance(w.dialog, InterventionDialog), w.dialog
    w.dialog.reject()
    qtbot.mouseClick(buttons["nausea_vomiting"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(buttons["anxiety"], Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: len(stored_events(db_path, "quick_event")) == 2, timeout=20_000)
    recorded = {e.detail["what"]: e.detail["text"] for e in stored_events(db_path, "quick_event")}
    assert recorded == {"nausea_vomiting": "Nausea/vomiting", "anxiety": "Anxiety"}
