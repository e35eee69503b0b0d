"""A nurse who uses the keyboard alone (a keyboard on a trolley, gloves): found in a keyboard-only pass over the
live window under a real X server. Enter in the discharge form started a cuff; Escape (or Enter where it cancels)
threw away a note, the checklist line and a scored discharge form; Tab could not leave a note; the focused
"confirm" button had no ring while Cancel looked selected; fields, boxes and lists showed no focus at all; Tab
then Space in the early-stop question cancelled the stop its hint said it would confirm. A nurse in a hurry at
1280x800: A and S (the alarm keys) then Enter in the early-stop question stopped the infusion with the reason "as";
Tab stopped on the chart and on a due score's button with no ring; the discharge form opened on Cancel, out of
view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from drivers.core.readings import Parameter
from monitor.session import Baseline, Phase
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


def _infusing(make_window: Any, qtbot: Any) -> Any:
    """A live window a moment into the planned infusion (before the protocol's 40 min minimum)."""
    window = make_window(speed=120.0, plan="baseline:1,infusion:40,recovery:30", first_status=True)
    window.send("checklist", quick="f6 e t:partner c m- w80")
    window.send("plan_dose", weight_kg=80, dose_mg_per_kg=0.5, duration_min=40)
    qtbot.waitUntil(lambda: window.last_status.phase is Phase.INFUSION, timeout=60_000)
    return window


def test_the_alarm_keys_then_enter_in_the_early_stop_question_do_not_stop_the_infusion(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    """A and S pressed by reflex while an alarm shows went into the reason field, and the Enter after them stopped
    the infusion early with the reason "as"; Ctrl+Enter is what stops it."""
    w = _infusing(make_window, qtbot)
    w.phase_buttons["stop_infusion"].click()
    question = w.dialog
    assert isinstance(question, ReasonConfirmDialog)
    _active(qtbot, question)
    assert question.editor.hasFocus()
    hint = question.hint.text()
    for key in (Qt.Key.Key_A, Qt.Key.Key_S, Qt.Key.Key_Return):
        qtbot.keyClick(QApplication.focusWidget(), key)
    qtbot.waitUntil(lambda: not question.isVisible(), timeout=WAIT_MS)
    assert question.result() == QDialog.DialogCode.Rejected
    w.send("note", text="after the question")  # settles after anything the question could have sent
    qtbot.waitUntil(lambda: bool(stored_events(db_path, "note")), timeout=WAIT_MS)
    assert stored_events(db_path, "infusion_stopped") == [] and not w.last_status.infusion_stopped
    assert hint.startswith("Enter cancels · Ctrl+Enter")  # what the question says of its keys

    w.phase_buttons["stop_infusion"].click()
    _active(qtbot, w.dialog)
    qtbot.keyClicks(w.dialog.editor, "pt vomiting")
    qtbot.keyClick(w.dialog.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(stored_events(db_path, "infusion_stopped")), timeout=WAIT_MS)
    [stopped] = stored_events(db_path, "infusion_stopped")
    assert stopped.detail["reason"] == "pt vomiting"


def test_only_ctrl_enter_or_the_button_confirms_the_early_stop_and_enter_cancels_every_confirmation(
    qtbot: Any,
) -> None:
    def asked() -> ReasonConfirmDialog:
        dialog = ReasonConfirmDialog(None, "Stop infusion early", "Stop the infusion early?", "Stop infusion early",
                                     "Reason (recorded; may be left empty):")
        qtbot.addWidget(dialog)
        _active(qtbot, dialog)
        return dialog

    typed_reasons = ("", "as", "patient asked to stop")
    for typed in typed_reasons:
        dialog = asked()
        qtbot.keyClicks(dialog.editor, typed)
        qtbot.keyClick(dialog.editor, Qt.Key.Key_Return)
        assert dialog.result() == QDialog.DialogCode.Rejected and not dialog.isVisible(), typed
    for typed in typed_reasons:
        dialog = asked()
        qtbot.keyClicks(dialog.editor, typed)
        qtbot.keyClick(dialog.editor, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier)  # the keypad's too
        assert dialog.result() == QDialog.DialogCode.Accepted and dialog.text() == typed
    plain = ConfirmDialog(None, "Start recovery", "Start recovery now?", "Start recovery")
    qtbot.addWidget(plain)
    _active(qtbot, plain)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert plain.result() == QDialog.DialogCode.Rejected


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


def test_every_tab_stop_of_the_live_window_shows_the_white_ring(qtbot: Any, make_window: Any) -> None:
    """From Identify…, Tab went to Alarm log, Audio pause, then to the chart, which showed nothing of it (arrows
    and keys did nothing there either), then on to Start baseline. A score due ("PHQ/GAD due") kept its amber
    border with the keyboard on it, no ring."""
    w = make_window(first_status=True)
    _active(qtbot, w)
    w.header.patient_button.setFocus()
    qtbot.waitUntil(w.header.patient_button.hasFocus, timeout=WAIT_MS)
    white = QColor(theme.TEXT).name()
    stops: list[QWidget] = []
    unseen: list[str] = []
    while QApplication.focusWidget() not in stops and len(stops) < 60:
        stop = QApplication.focusWidget()
        stops.append(stop)
        if white not in _ring(stop):
            unseen.append(f"{type(stop).__name__} {getattr(stop, 'text', lambda: '')()!r}")
        qtbot.keyClick(stop, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is w.header.patient_button  # once round, back where it began
    assert len(stops) > 10 and not unseen, unseen


def test_the_discharge_form_opens_with_the_keyboard_on_its_first_item(qtbot: Any, make_window: Any) -> None:
    """It opened with the keyboard on Cancel, below the fold at 1280x800: nothing on screen showed it."""
    w = make_window(first_status=True)
    _active(qtbot, w)
    w.discharge()
    form = w.dialog
    assert isinstance(form, DischargeDialog)
    qtbot.waitUntil(form.isActiveWindow, timeout=WAIT_MS)
    first = form.groups["aldrete_activity"].button(2)
    qtbot.waitUntil(first.hasFocus, timeout=WAIT_MS)
    assert not first.visibleRegion().isEmpty()  # in view, with a box's dotted ring
    qtbot.keyClick(first, Qt.Key.Key_Space)  # scored from the keyboard at once
    assert form.groups["aldrete_activity"].checkedId() == 2
    form.reject()


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


def test_a_digit_scores_the_discharge_item_and_goes_past_the_oxygen_box(qtbot: Any) -> None:
    """Found at 1280×800 under Xvfb: the digits that score CADSS-6 did nothing here, and with Space then Tab the
    Tab after Consciousness stopped on "On supplemental oxygen", whose next Space unticked it: a patient given
    oxygen during the session was about to be scored on room air. 0-2 now scores the item with the keyboard and
    moves to the next item; the oxygen box keeps what it says."""
    from monitor.dose import InterventionKind, intervention

    oxygen = (0.0, intervention(InterventionKind.OXYGEN, "oxygen", 2.0))
    dialog = DischargeDialog(None, [], BASELINE, oxygen=oxygen)
    dialog.setStyleSheet(theme.STYLE_SHEET)
    qtbot.addWidget(dialog)
    _active(qtbot, dialog)
    qtbot.waitUntil(lambda: dialog.first_item().hasFocus(), timeout=WAIT_MS)
    for digit in "2212221":  # three Aldrete items, four PADSS ones
        focused = QApplication.focusWidget()
        assert focused is not None
        qtbot.keyClick(focused, digit)
    assert {name: group.checkedId() for name, group in dialog.groups.items()} == {
        "aldrete_activity": 2, "aldrete_respiration": 2, "aldrete_consciousness": 1, "padss_activity": 2,
        "padss_nausea_vomiting": 2, "padss_pain": 2, "padss_bleeding": 1}
    assert dialog.on_oxygen.isChecked()
    assert QApplication.focusWidget() is dialog.escort
    qtbot.keyClick(dialog.escort, Qt.Key.Key_Space)  # the boxes after the items, as before
    assert dialog.escort.isChecked()
    dialog.reject()
