"""No key typed while a form is open acts on the alarms, and a box's Alt+letter ticks it at once.

Found under Xvfb with openbox (1280×720, 1366×768): Alt+C in the MOAA/S or intervention form focused the
"Corrects the last …" box and ticked it only about 100 ms later (Qt animates a mnemonic's click). The reason typed
straight after went to the box meanwhile, and the form's own A and S keys took its letters: "pressed 1 for 4" was
stored as "sed 1 for 4" with the alarm sound paused, and "a" acknowledged a high-priority SpO2 alarm.

The keys are sent one after another with no wait between them, each to the widget that has the keyboard then,
as the window system delivers them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog

from tests.ui.conftest import stored_events
from ui.chair_dialogs import InterventionDialog, QuestionnaireDialog, RespirationDialog
from ui.dialogs import EntryCorrection, LevelDialog

WAIT_MS = 15_000
#: Commands that act on the alarms.
ALARM_COMMANDS = {"acknowledge", "pause_audio"}


def _sent(window: Any) -> list[str]:
    """The names of the commands the window sends from now on (they are still sent)."""
    names: list[str] = []
    send = window.send

    def spy(name: str, *args: Any, **kwargs: Any) -> None:
        names.append(name)
        send(name, *args, **kwargs)

    window.send = spy
    return names


def _typed(keys: str) -> None:
    """Type ``keys`` at whatever has the keyboard, key after key, no event handled in between but the keys."""
    for char in keys:
        QTest.keyClick(QApplication.focusWidget(), char)


def _alt(key: Qt.Key) -> None:
    QTest.keyClick(QApplication.focusWidget(), key, Qt.KeyboardModifier.AltModifier)


def _form(qtbot: Any, window: Any, key: Qt.Key) -> QDialog:
    """The form ``key`` opens, with the keyboard."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    qtbot.keyClick(window, key)
    dialog = window.dialog
    assert dialog is not None
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=WAIT_MS)
    return dialog


def _recorded(qtbot: Any, window: Any, db_path: Path, command: str, **args: Any) -> None:
    """A first entry made by ``command`` (of the same kind) in the session and the window's events, to be
    corrected."""
    window.send(command, **args)
    qtbot.waitUntil(lambda: len(stored_events(db_path, command)) == 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: any(e.kind.value == command for e in window.events), timeout=WAIT_MS)


def test_a_reason_typed_straight_after_alt_c_is_the_reason_and_acts_on_no_alarm(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    window = make_window(scenario="desaturation", speed=10.0, first_status=True)
    _recorded(qtbot, window, db_path, "score", scale="MOAA/S", value=1)
    dialog = _form(qtbot, window, Qt.Key.Key_M)
    assert isinstance(dialog, LevelDialog)
    offered = dialog.findChild(EntryCorrection)
    assert offered is not None
    sent = _sent(window)
    _alt(Qt.Key.Key_C)
    _typed("asleep, pressed 1 for 4, as charted")
    assert offered.box.isChecked()
    assert offered.reason.text() == "asleep, pressed 1 for 4, as charted"
    assert not ALARM_COMMANDS & set(sent), sent
    assert window.dialog is dialog and dialog.isVisible()


def test_the_intervention_correction_and_its_withdrawal_tick_at_their_keys(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    """Alt+C, the reason, Alt+W and Enter at once: the wrong intervention is withdrawn, no alarm is touched (the box
    stayed unticked, the Kind list opened and the sound was paused)."""
    window = make_window(speed=10.0, first_status=True)
    _recorded(qtbot, window, db_path, "intervention", kind="oxygen", drug="oxygen", dose=2.0,
              route="nasal cannula")
    dialog = _form(qtbot, window, Qt.Key.Key_I)
    assert isinstance(dialog, InterventionDialog)
    sent = _sent(window)
    _alt(Qt.Key.Key_C)
    _typed("sa wrong chair")
    _alt(Qt.Key.Key_W)
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert not ALARM_COMMANDS & set(sent), sent
    qtbot.waitUntil(lambda: len(stored_events(db_path, "intervention")) == 2, timeout=WAIT_MS)
    withdrawal = stored_events(db_path, "intervention")[1].detail
    assert withdrawal["withdrawn"] is True and withdrawal["correction_reason"] == "sa wrong chair"


def test_respiratory_depression_is_ticked_at_alt_y(qtbot: Any, make_window: Any) -> None:
    """Alt+Y then Enter at once recorded "no depression seen": Enter came before the animated tick."""
    window = make_window(first_status=True)
    dialog = RespirationDialog(window)
    recorded: list[bool] = []
    window._open(dialog, lambda d: recorded.append(d.depression_seen()))  # type: ignore[attr-defined]
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=WAIT_MS)
    dialog.rate.setFocus()
    _typed("6")
    _alt(Qt.Key.Key_Y)
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert recorded == [True]


def test_a_and_s_in_a_questionnaire_act_on_no_alarm(qtbot: Any, make_window: Any) -> None:
    """The patient answering PHQ-9 presses A or S: nothing happens to the alarms; the questionnaire goes on."""
    window = make_window(scenario="desaturation", first_status=True)
    dialog = _form(qtbot, window, Qt.Key.Key_Q)
    assert isinstance(dialog, QuestionnaireDialog)
    sent = _sent(window)
    _typed("asASl1")
    assert not ALARM_COMMANDS & set(sent), sent
    assert dialog.answers == [1] and dialog.isVisible()


def _enter_and_space_answer_nothing(dialog: QuestionnaireDialog) -> None:
    answered = list(dialog.answers)
    assert QApplication.focusWidget() not in dialog.choice_buttons
    for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
        QTest.keyClick(QApplication.focusWidget(), key)
    assert dialog.answers == answered and dialog.isVisible()
    assert dialog.progress.text() == QuestionnaireDialog.CHOOSE


def test_enter_in_a_questionnaire_answers_nothing(qtbot: Any, make_window: Any) -> None:
    """No answer is under the keyboard as a question opens: Enter says to choose one and records nothing (a habitual
    Enter scored "0 not at all", at question 9, thoughts of self-harm, too). A digit, an arrow then Space, or a
    click answers."""
    window = make_window(first_status=True)
    dialog = _form(qtbot, window, Qt.Key.Key_Q)
    assert isinstance(dialog, QuestionnaireDialog)
    _enter_and_space_answer_nothing(dialog)
    _typed("2")
    _enter_and_space_answer_nothing(dialog)
    assert dialog.answers == [2]
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)
    assert QApplication.focusWidget() is dialog.choice_buttons[0]
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Right)
    assert QApplication.focusWidget() is dialog.choice_buttons[1]
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert dialog.answers == [2]
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
    assert dialog.answers == [2, 1]
    assert QApplication.focusWidget() not in dialog.choice_buttons  # the next question: none chosen again
    assert dialog.isVisible()


def test_tab_reaches_the_correction_before_ok_and_cancel(qtbot: Any, make_window: Any, db_path: Path) -> None:
    """As it is drawn: the list, the box, the reason, then OK and Cancel (Tab went OK, Cancel, then the box)."""
    window = make_window(speed=10.0, first_status=True)
    _recorded(qtbot, window, db_path, "score", scale="MOAA/S", value=1)
    dialog = _form(qtbot, window, Qt.Key.Key_M)
    assert isinstance(dialog, LevelDialog)
    offered = dialog.findChild(EntryCorrection)
    assert offered is not None
    dialog.list.setFocus()
    QTest.keyClick(dialog.list, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is offered.box
    QTest.keyClick(offered.box, Qt.Key.Key_Space)
    assert QApplication.focusWidget() is offered.reason
    QTest.keyClick(offered.reason, Qt.Key.Key_Tab)
    assert QApplication.focusWidget().text() == "OK"
