"""Text is text: markup in every patient, user and device field is shown literally, never rendered.

The attack of the issue: ``--patient '<font color="#0b0d10">REAL-1</font> FAKE-999'`` showed FAKE-999
with the real MRN invisible. Each field here carries markup; each label must be plain text, and
its width must be that of the literal text (a rendered label would be narrower: no tags drawn).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import NURSE_SECRET
from ui.dialogs import SignedInUser

MARKUP_MRN = '<font color="#0b0d10">REAL-1</font> FAKE-999'
MARKUP_NAME = "<b>Jane</b> <i>Doe</i>"
MARKUP_BIRTH = "<s>1960-01-01</s>"
MARKUP_USER = '<span style="color:#000">RN</span> <b>ADMIN</b>'
WAIT_MS = 20_000


def _shows_literally(label: QLabel) -> bool:
    """Plain text, and as wide as the literal text drawn by a sibling plain label (rendered markup is narrower)."""
    from ui.labels import ElidedLabel

    if isinstance(label, ElidedLabel):
        # Drawn with QPainter.drawText (never markup); its tooltip is the other place text shows.
        tip = label.toolTip()
        literal = "&lt;" in tip or "<" not in label.text()
        return label.textFormat() == Qt.TextFormat.PlainText and literal
    reference = QLabel(label.parentWidget())
    reference.setObjectName(label.objectName())
    reference.setTextFormat(Qt.TextFormat.PlainText)
    reference.setStyleSheet(label.styleSheet())
    reference.setText(label.text())
    rendered = QLabel(label.parentWidget())
    rendered.setObjectName(label.objectName())
    rendered.setTextFormat(Qt.TextFormat.RichText)
    rendered.setStyleSheet(label.styleSheet())
    rendered.setText(label.text())
    same = label.sizeHint().width() == reference.sizeHint().width() or label.wordWrap()
    differs = rendered.sizeHint().width() != reference.sizeHint().width()  # the markup really would render
    for probe in (reference, rendered):
        probe.setParent(None)
        probe.deleteLater()
    return label.textFormat() == Qt.TextFormat.PlainText and same and differs


def _rich_labels(root: QWidget, allowed: tuple[QLabel, ...] = ()) -> list[str]:
    return [f"{label.objectName() or label.text()[:30]!r}" for label in root.findChildren(QLabel)
            if label.textFormat() != Qt.TextFormat.PlainText and label not in allowed]


def test_live_window_shows_patient_user_and_device_text_literally(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=10.0, patient=MARKUP_MRN, first_status=True)
    assert MARKUP_MRN in w.header.patient.text() and _shows_literally(w.header.patient)
    w.set_user(SignedInUser(MARKUP_USER, "nurse"))
    assert MARKUP_USER in w.header.user.text() and _shows_literally(w.header.user)
    w.header.device.setText("<b>Masimo</b> <font color=#000>SN 123</font>")
    assert _shows_literally(w.header.device)
    w.show_message("refused for <b>" + MARKUP_USER + "</b>")
    assert _shows_literally(w.message)
    assert _rich_labels(w) == []


def test_live_window_patient_identified_with_markup_in_every_field(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=10.0, first_status=True)
    w.identify_patient()
    w.dialog.mrn_edit.setText(MARKUP_MRN)
    w.dialog.name_edit.setText(MARKUP_NAME)
    w.dialog.birth_edit.setText("1960-01-01")
    w.dialog.accept()
    qtbot.waitUntil(lambda: "FAKE-999" in w.header.patient.text(), timeout=WAIT_MS)
    assert MARKUP_NAME in w.header.patient.text() and _shows_literally(w.header.patient)


def _record_with_markup(path: Path) -> str:
    store = Store(path)
    try:
        source = SimulatedSource(scenario="normal", seed=3, speed=math.inf, start_time=1_790_000_000.0)
        patient = store.create_patient(MARKUP_MRN, MARKUP_NAME, MARKUP_BIRTH)
        recorder = Recorder.new_session(store, source, driver="simulated", port=None,
                                        plan=parse_plan("baseline:1,infusion:2,recovery:1"), patient_id=patient,
                                        nurse=MARKUP_USER, autopilot=True, alarms=AlarmEngine())
        recorder.submit("note", MARKUP_USER, text="<h1>big</h1>")
        recorder.run()
        return recorder.session.id
    finally:
        store.close()


def test_review_window_and_session_browser_show_markup_literally(qtbot: Any, db_path: Path) -> None:
    from ui.review_window import ReviewWindow
    from ui.session_browser import SessionBrowser

    session_id = _record_with_markup(db_path)
    review = ReviewWindow(db_path, session_id, SignedInUser(MARKUP_USER, "physician"))
    qtbot.addWidget(review)
    review.show()
    for label in (review.patient_label, review.session_label):
        assert _shows_literally(label), label.text()
    assert "REAL-1" in review.patient_label.text() and MARKUP_USER in review.session_label.text()
    assert _rich_labels(review, allowed=(review.alarm_summary,)) == []
    browser = SessionBrowser(db_path, SignedInUser(MARKUP_USER, "nurse"))
    qtbot.addWidget(browser)
    assert _rich_labels(browser) == []


def test_sign_in_dialog_messages_are_plain(qtbot: Any, db_path: Path, accounts_in: Any) -> None:
    from ui.account_dialogs import AccountGate, AccountSignInDialog

    accounts_in(db_path)
    dialog = AccountSignInDialog(None, AccountGate(db_path))
    qtbot.addWidget(dialog)
    dialog.name_edit.setText(MARKUP_USER)
    dialog.secret_edit.setText(NURSE_SECRET)
    dialog._check()
    assert dialog.principal is None and "not recognised" in dialog.message.text()
    assert _rich_labels(dialog) == []  # every label of the dialog is plain text
