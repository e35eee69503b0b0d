"""What a screen reader finds: every field of the chair's forms named, and each new alarm read out once.

Found through the AT-SPI bridge: the CADSS boxes read "spin button", the note, rate, checklist and reason fields
had only placeholder text, the discharge form's radio buttons were "2  minimal" three times (nausea, pain,
bleeding), and when an alarm started nothing was said at all. Names are read here through Qt's accessibility
interface, which is what the bridge passes on.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QWidget,
)

from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmSnapshot, Priority
from tests.ui.test_keyboard_only import BASELINE
from ui.account_dialogs import AccountGate, AccountSignInDialog
from ui.alarm_bar import AlarmBar
from ui.dialogs import SignedInUser
from ui.discharge_dialog import DischargeDialog
from ui.session_browser import SessionBrowser

T0 = 1_790_000_000.0
INPUTS = (QLineEdit, QPlainTextEdit, QAbstractSpinBox, QAbstractItemView, QComboBox, QAbstractButton)


def _name(widget: QWidget) -> str:
    face = QAccessible.queryAccessibleInterface(widget)
    return face.text(QAccessible.Text.Name) if face is not None else ""


def _unnamed(form: QWidget) -> list[str]:
    """The inputs of ``form`` a screen reader cannot name, and radio buttons named alike."""
    found = [w for w in form.findChildren(QWidget) if isinstance(w, INPUTS) and w.isVisibleTo(form)
             and w.focusPolicy() != Qt.FocusPolicy.NoFocus
             and not isinstance(w.parentWidget(), (QAbstractSpinBox, QComboBox))]  # their own inner editor
    unnamed = [f"{type(w).__name__} {w.objectName()!r}" for w in found if not _name(w).strip()]
    radios = [_name(w) for w in found if isinstance(w, QRadioButton)]
    return unnamed + sorted({f"radio named twice: {n}" for n in radios if radios.count(n) > 1})


@pytest.mark.parametrize("key", [Qt.Key.Key_K, Qt.Key.Key_D, Qt.Key.Key_N, Qt.Key.Key_M, Qt.Key.Key_R,
                                 Qt.Key.Key_C, Qt.Key.Key_I, Qt.Key.Key_Q])
def test_every_field_of_a_chair_form_is_named(qtbot: Any, make_window: Any, key: Qt.Key) -> None:
    w = make_window(speed=10.0, first_status=True)
    w.show()
    w.activateWindow()
    qtbot.keyClick(w, key)
    form = w.dialog
    assert form is not None
    assert _unnamed(form) == []
    form.reject()


def test_the_discharge_sign_in_and_session_list_fields_are_named(qtbot: Any, db_path: Any) -> None:
    from monitor.store import Store

    discharge = DischargeDialog(None, [], BASELINE)
    qtbot.addWidget(discharge)
    discharge.show()
    discharge.override.setVisible(True)
    assert _unnamed(discharge) == []
    assert _name(discharge.groups["padss_nausea_vomiting"].button(2)).startswith("Nausea")
    Store(db_path).close()
    sign_in = AccountSignInDialog(None, AccountGate(db_path))
    qtbot.addWidget(sign_in)
    sign_in.show()
    sign_in.emergency_box.setChecked(True)  # its reason field shows
    assert _unnamed(sign_in) == []
    browser = SessionBrowser(db_path, SignedInUser("RN", "nurse"))
    qtbot.addWidget(browser)
    browser.show()
    assert _unnamed(browser) == []


def _alarm(alarm_id: str, priority: Priority, message: str) -> AlarmRecord:
    return AlarmRecord(alarm_id, alarm_id, "spo2", priority, AlarmKind.PHYSIOLOGICAL, message, T0, value=86.0,
                       limit=90.0)


def test_each_new_alarm_is_read_out_once(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr("ui.alarm_bar.announce", lambda widget: said.append(_name(widget)))
    bar = AlarmBar()
    qtbot.addWidget(bar)
    bar.show()
    first = (_alarm("a", Priority.HIGH, "SpO2 86 < 90"), _alarm("b", Priority.MEDIUM, "HR 125 > 120"))
    bar.show_snapshot(AlarmSnapshot(first, None, False, False, Priority.HIGH), T0 + 1)
    assert [s.split(" · ")[0] for s in said] == ["high priority alarm: *** SpO2 86 < 90",
                                                 "medium priority alarm: ** HR 125 > 120"]
    bar.show_snapshot(AlarmSnapshot(first, None, False, False, Priority.HIGH), T0 + 2)  # nothing new
    assert len(said) == 2
    later = (*first, _alarm("c", Priority.LOW, "SBP 168 ≥ 165"))
    bar.show_snapshot(AlarmSnapshot(later, None, False, False, Priority.HIGH), T0 + 3)
    assert len(said) == 3 and said[-1].startswith("low priority alarm: * SBP 168 ≥ 165")
    bar.show_snapshot(AlarmSnapshot((), None, False, False, None), T0 + 4)
    bar.show_snapshot(AlarmSnapshot(first[:1], None, False, False, Priority.HIGH), T0 + 5)  # over, then again
    assert len(said) == 4 and said[-1].startswith("high priority alarm: *** SpO2 86 < 90")


def test_a_cut_label_describes_itself_as_text_not_markup(qtbot: Any) -> None:
    """Its tooltip is written as HTML so that Qt shows "&" and "<" literally; a screen reader read that markup."""
    from ui.labels import ElidedLabel

    label = ElidedLabel("Patient: O'Neil & Sons <MRN-7>")
    qtbot.addWidget(label)
    label.show()
    face = QAccessible.queryAccessibleInterface(label)
    assert face.text(QAccessible.Text.Description) == "Patient: O'Neil & Sons <MRN-7>"
    assert label.toolTip().startswith("<p")  # still shown literally on hover
