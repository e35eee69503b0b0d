"""An intervention or a note entered in error is corrected from the dialog it was entered in, with the keyboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from tests.ui.conftest import stored_events
from tests.ui.test_score_correction import WAIT_MS, _tab_to
from ui.chair_dialogs import InterventionDialog
from ui.dialogs import EntryCorrection, TextDialog


def _open(qtbot: Any, w: Any, key: Qt.Key) -> Any:
    """Press ``key`` in the window and give back the dialog it opens, with the keyboard."""
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=WAIT_MS)
    qtbot.keyClick(w, key)
    dialog = w.dialog
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=WAIT_MS)
    return dialog


def _tick_correction(qtbot: Any, dialog: Any, reason: str) -> EntryCorrection:
    offered = dialog.findChild(EntryCorrection)
    assert offered is not None and not offered.reason.isEnabled()
    _tab_to(qtbot, dialog, offered.box)
    qtbot.keyClick(offered.box, Qt.Key.Key_Space)
    assert offered.box.isChecked() and offered.reason.hasFocus()  # ticked: the reason is typed next
    qtbot.keyClicks(offered.reason, reason)
    return offered


def _corrected(qtbot: Any, db_path: Path, kind: str, reason: str) -> tuple[Any, Any]:
    """The stored entry in error and the one correcting it, once both are written."""
    qtbot.waitUntil(lambda: len(stored_events(db_path, kind)) == 2, timeout=WAIT_MS)
    entered = stored_events(db_path, kind)
    assert entered[1].detail["corrects_at"] == entered[0].t and entered[1].detail["correction_reason"] == reason
    return entered[0], entered[1]


def test_the_intervention_dialog_corrects_the_last_intervention_with_the_keyboard(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=10.0, first_status=True)
    dialog = _open(qtbot, w, Qt.Key.Key_I)
    assert isinstance(dialog, InterventionDialog) and dialog.findChild(EntryCorrection) is None  # nothing yet
    dialog.kind.setCurrentText("benzodiazepine")
    dialog.drug.setText("midazolam")
    dialog.amount.setValue(20)  # typed for 2
    dialog.accept()
    qtbot.waitUntil(lambda: len(stored_events(db_path, "intervention")) == 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: any(e.kind.value == "intervention" for e in w.events), timeout=WAIT_MS)

    dialog = _open(qtbot, w, Qt.Key.Key_I)
    offered = dialog.findChild(EntryCorrection)
    assert offered is not None
    assert offered.box.text().startswith("Corrects the last intervention, benzodiazepine midazolam 20 mg at ")
    assert not offered.withdraw.isEnabled()
    _tick_correction(qtbot, dialog, "typed 20 for 2")
    dialog.kind.setCurrentText("benzodiazepine")
    dialog.drug.setText("midazolam")
    _tab_to(qtbot, dialog, dialog.amount)
    qtbot.keyClick(dialog.amount, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(dialog.amount, "2")
    qtbot.keyClick(dialog.amount, Qt.Key.Key_Return)
    assert dialog.result() == InterventionDialog.DialogCode.Accepted
    wrong, right = _corrected(qtbot, db_path, "intervention", "typed 20 for 2")
    assert (wrong.detail["dose"], right.detail["dose"]) == (20.0, 2.0)
    # On the chart the wrong entry's marker says so.
    qtbot.waitUntil(lambda: any(t == wrong.t and text.endswith("(in error)") for t, text, _c in w.chart._markers),
                    timeout=WAIT_MS)

    # Nothing was given at all: the correction withdraws it (Space on the second box, Enter records).
    dialog = _open(qtbot, w, Qt.Key.Key_I)
    offered = _tick_correction(qtbot, dialog, "midazolam was for chair 3")
    _tab_to(qtbot, dialog, offered.withdraw)
    qtbot.keyClick(offered.withdraw, Qt.Key.Key_Space)
    assert offered.withdrawn() and not dialog.drug.isEnabled()
    qtbot.keyClick(offered.withdraw, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(stored_events(db_path, "intervention")) == 3, timeout=WAIT_MS)
    withdrawn = stored_events(db_path, "intervention")[2].detail
    assert withdrawn["withdrawn"] is True and withdrawn["corrected_value"] == "benzodiazepine midazolam 2 mg"
    assert "type" not in withdrawn


def test_the_note_dialog_withdraws_the_last_note_with_the_keyboard(qtbot: Any, make_window: Any,
                                                                   db_path: Path) -> None:
    w = make_window(speed=10.0, first_status=True)
    dialog = _open(qtbot, w, Qt.Key.Key_N)
    assert isinstance(dialog, TextDialog) and dialog.findChild(EntryCorrection) is None
    qtbot.keyClicks(dialog.editor, "pt in chair 3 vomited")
    qtbot.keyClick(dialog.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(stored_events(db_path, "note")) == 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: any(e.kind.value == "note" for e in w.events), timeout=WAIT_MS)

    dialog = _open(qtbot, w, Qt.Key.Key_N)
    offered = dialog.findChild(EntryCorrection)
    assert offered is not None and offered.box.text().startswith(
        "Corrects the last note or event, pt in chair 3 vomited at ")
    _tick_correction(qtbot, dialog, "another patient")
    qtbot.keyClick(offered.reason, Qt.Key.Key_Return)  # no text in its place: withdrawn
    qtbot.waitUntil(lambda: len(stored_events(db_path, "note")) == 2, timeout=WAIT_MS)
    wrong, withdrawal = stored_events(db_path, "note")
    assert withdrawal.detail == {"corrects_at": wrong.t, "corrected_value": "pt in chair 3 vomited",
                                 "correction_reason": "another patient", "withdrawn": True}


def test_the_review_timeline_marks_an_intervention_in_error() -> None:
    from monitor.session import EventKind, Phase, SessionEvent
    from ui.review_window import event_detail

    wrong = SessionEvent(100.0, EventKind.INTERVENTION, Phase.INFUSION, "RN",
                         {"type": "oxygen", "dose": 2.0, "text": "oxygen oxygen 2 L/min nasal cannula"})
    withdrawal = SessionEvent(130.0, EventKind.INTERVENTION, Phase.INFUSION, "RN", {
        "corrects_at": 100.0, "corrected_value": "oxygen oxygen 2 L/min nasal cannula",
        "correction_reason": "the patient in chair 3", "withdrawn": True})
    assert event_detail(wrong, withdrawal).startswith(
        "oxygen oxygen 2 L/min nasal cannula   (SUPERSEDED, entered in error: withdrawn by RN at ")
    assert event_detail(withdrawal) == ("no intervention, correcting oxygen oxygen 2 L/min nasal cannula entered in "
                                        "error: the patient in chair 3")
