"""A nurse who uses the keyboard alone (a keyboard on a trolley, gloves): found in a keyboard-only pass over the
live window under a real X server. Enter in the discharge form started a cuff; Escape (or Enter where it cancels)
threw away a note, the checklist line and a scored discharge form; Tab could not leave a note; the focused
"confirm" button had no ring while Cancel looked selected; fields, boxes and lists showed no focus at all; Tab
then Space in the early-stop question cancelled the stop its hint said it would confirm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialog, QWidget

from drivers.core.readings import Parameter
from monitor.session import Baseline
from tests.ui.conftest import stored_events
from ui import theme
from ui.chair_dialogs import ChecklistDialog
from ui.dialogs import ConfirmDialog, Drafts, ReasonConfirmDialog, TextDialog
from ui.discharge_dialog import RESTORED, DischargeDialog
from ui.live_window import DISCHARGE_DRAFT_S

WAIT_MS = 5000
BASELINE = Baseline(taken_at=0.0, heart_rate=72.0, heart_rate_parameter=Parameter.HR, spo2=98.0, nibp_sys=128.0,
                    nibp_dia=80.0, nibp_mean=96.0)


def _active(qtbot: Any, widget: QWidget) -> None:
    widget.show()
    widget.activateWindow()
    qtbot.waitUntil(widget.isActiveWindow, timeout=WAIT_MS)


def _ring(widget: QWidget) -> set[str]:
    """The colours of the widget's top edge, one pixel in (where a border is drawn)."""
    image = widget.grab().toImage()
    return {image.pixelColor(x, 1).name() for x in range(4, image.width() - 4)}


def test_enter_in_the_discharge_form_cancels_and_never_starts_a_cuff(qtbot: Any) -> None:
    cuffs: list[int] = []
    dialog = DischargeDialog(None, [], BASELINE, nibp_now=lambda: cuffs.append(1))
    dialog.setStyleSheet(theme.STYLE_SHEET)
    qtbot.addWidget(dialog)
    _active(qtbot, dialog)
    assert dialog.cancel_button.isDefault() and not dialog.nibp_button.isDefault()
    item = dialog.groups["aldrete_activity"].button(2)
    item.setFocus()
    qtbot.keyClick(item, Qt.Key.Key_Space)  # a scored item, the keyboard on it
    assert dialog.groups["aldrete_activity"].checkedId() == 2
    qtbot.keyClick(item, Qt.Key.Key_Return)
    assert cuffs == []
    assert dialog.result() == QDialog.DialogCode.Rejected and not dialog.isVisible()


def _escaped_and_opened_again(qtbot: Any, window: Any, key: Qt.Key, field: str, text: str,
                              before_escape: Any = None) -> QDialog:
    """The form ``key`` opens, ``text`` typed into its ``field``, closed with Escape, and opened again with the same
    key."""
    _active(qtbot, window)
    qtbot.keyClick(window, key)
    form = window.dialog
    qtbot.keyClicks(getattr(form, field), text)
    if before_escape is not None:
        before_escape(form)
    qtbot.keyClick(form, Qt.Key.Key_Escape)
    assert window.dialog is None
    qtbot.keyClick(window, key)
    return window.dialog


def test_a_note_closed_with_escape_comes_back_when_the_note_is_opened_again(qtbot: Any, make_window: Any,
                                                                            db_path: Path) -> None:
    w = make_window(speed=10.0, first_status=True)

    def tab_out(note: QDialog) -> None:
        qtbot.keyClick(note.editor, Qt.Key.Key_Tab)  # Tab leaves the note (it typed a tab into it)
        assert "\t" not in note.editor.toPlainText() and not note.editor.hasFocus()

    again = _escaped_and_opened_again(qtbot, w, Qt.Key.Key_N, "editor", "pt reports tingling", tab_out)
    assert isinstance(again, TextDialog) and again.text() == "pt reports tingling"
    qtbot.keyClicks(again.editor, " in both hands")  # typed on at its end
    qtbot.keyClick(again.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(stored_events(db_path, "note")), timeout=WAIT_MS)
    assert [e.detail["text"] for e in stored_events(db_path, "note")] == ["pt reports tingling in both hands"]
    _active(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_N)  # recorded: nothing kept any more
    assert w.dialog.text() == ""
    w.dialog.reject()


def test_the_checklist_line_closed_with_escape_comes_back(qtbot: Any, make_window: Any) -> None:
    w = make_window(speed=10.0, first_status=True)
    again = _escaped_and_opened_again(qtbot, w, Qt.Key.Key_K, "entry", "f6 e t:partner c")
    assert isinstance(again, ChecklistDialog) and again.quick_text() == "f6 e t:partner c"
    assert "escort" not in w.dialog.preview.text()  # the preview follows what came back
    w.dialog.reject()


def test_a_discharge_form_closed_by_a_slip_comes_back_for_a_few_minutes_only(qtbot: Any) -> None:
    now = [1000.0]
    drafts = Drafts(lambda: now[0])

    def opened() -> DischargeDialog:
        dialog = DischargeDialog(None, [], BASELINE)
        qtbot.addWidget(dialog)
        drafts.attach("discharge", dialog, max_age_s=DISCHARGE_DRAFT_S, keep_when_accepted=True)
        return dialog

    first = opened()
    for name in first.groups:
        first.set_item(name, 2)
    first.escort.setChecked(True)
    first.reject()  # Escape, or Enter: it cancels
    now[0] += 60.0
    second = opened()
    assert second.missing() == [] and second.escort.isChecked() and not second.no_driving.isChecked()
    assert second.hint.text() == RESTORED
    second.accept()  # scored; the question after it (criteria not met) may still be cancelled: kept
    now[0] += DISCHARGE_DRAFT_S + 1.0
    third = opened()  # too long ago: assessed afresh
    assert set(third.missing()) == set(third.groups) and not third.escort.isChecked()
    assert third.hint.text() != RESTORED


def test_tab_from_the_early_stop_reason_goes_to_the_stop_as_its_hint_says(qtbot: Any) -> None:
    dialog = ReasonConfirmDialog(None, "Stop infusion", "Stop the infusion early?", "Stop infusion early",
                                 "Reason (recorded; may be left empty):")
    qtbot.addWidget(dialog)
    _active(qtbot, dialog)
    assert dialog.editor.hasFocus()
    assert "Tab to “Stop infusion early” then Space" in dialog.hint.text()
    qtbot.keyClick(dialog.editor, Qt.Key.Key_Tab)
    assert dialog.yes_button.hasFocus()
    qtbot.keyClick(dialog.yes_button, Qt.Key.Key_Space)
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_the_focus_ring_is_on_the_focused_button_only_and_on_fields(qtbot: Any) -> None:
    """Read from the pixels: the confirm button's own border hid the ring, and Cancel, the default button, had a
    solid white border of its own that read as the focus."""
    dialog = ConfirmDialog(None, "Start infusion", "Start the infusion now?", "Start infusion")
    dialog.setStyleSheet(theme.STYLE_SHEET)
    qtbot.addWidget(dialog)
    _active(qtbot, dialog)
    white = QColor(theme.TEXT).name()
    dialog.yes_button.setFocus()
    qtbot.waitUntil(dialog.yes_button.hasFocus, timeout=WAIT_MS)
    assert white in _ring(dialog.yes_button)
    assert white not in _ring(dialog.no_button)  # the default button, not focused: no white ring
    dialog.no_button.setFocus()
    qtbot.waitUntil(dialog.no_button.hasFocus, timeout=WAIT_MS)
    assert white in _ring(dialog.no_button) and white not in _ring(dialog.yes_button)

    checklist = ChecklistDialog(None, _protocol(), None)
    checklist.setStyleSheet(theme.STYLE_SHEET)
    qtbot.addWidget(checklist)
    _active(qtbot, checklist)
    checklist.entry.setFocus()
    qtbot.waitUntil(checklist.entry.hasFocus, timeout=WAIT_MS)
    assert white in _ring(checklist.entry)


def _protocol() -> Any:
    from monitor.protocols import load_protocol

    return load_protocol("ketamine-iv")


def test_a_draft_is_not_given_to_the_next_person_signed_in(qtbot: Any, make_window: Any) -> None:
    """A note left unsaved by one nurse (the screen locked on her, or she closed it) would be recorded under the
    name of the next one who signs in: drafts go with a change of person, and stay with the same one."""
    from ui.dialogs import SignedInUser

    w = make_window(speed=10.0, first_status=True)
    again = _escaped_and_opened_again(qtbot, w, Qt.Key.Key_N, "editor", "given 4 mg ondansetron")
    again.reject()
    w.set_user(SignedInUser(w.user.name, w.user.role))  # the same nurse again, after a lock
    _active(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_N)
    assert w.dialog.text() == "given 4 mg ondansetron"
    w.dialog.reject()
    w.set_user(SignedInUser("RN2", "nurse"))
    _active(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_N)
    assert w.dialog.text() == ""
    w.dialog.reject()
