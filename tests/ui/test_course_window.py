"""The course window opened from the session browser and the review window; chair dialogs in the live window."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from monitor.course import load_course_by_mrn
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.session import EventKind, Phase
from monitor.store import Store
from tests.monitor.course.recording import DAY, MRN, Script, record
from tests.ui.conftest import stored_events
from ui.chair_dialogs import InterventionDialog, QuestionnaireDialog, RespirationDialog
from ui.course_window import COLUMNS, CourseWindow, cell_texts
from ui.dialogs import SignedInUser, TextDialog
from ui.review_window import ReviewWindow
from ui.session_browser import SessionBrowser

REVIEWER = SignedInUser("Dr Mensah", "physician")
WAIT_MS = 15_000
START = 1_725_000_000.0


@pytest.fixture(scope="module")
def course_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short IV sessions of one patient with doses and questionnaires."""
    path = tmp_path_factory.mktemp("course-ui") / "monitor.db"
    for index, answers in enumerate(("222222222", "111111110")):
        script = Script([
            (Phase.BASELINE, 20, "checklist", {"quick": "f6 e c m- w75"}),
            (Phase.BASELINE, 30, "plan_dose", {"weight_kg": 75, "dose_mg_per_kg": 0.5, "duration_min": 8}),
            (Phase.BASELINE, 40, "outcome_score", {"scale": "PHQ-9", "answers": answers}),
        ])
        record(path, load_protocol("ketamine-iv"), start=START + index * 3 * DAY, plan=SessionPlan(2, 8, 6),
               script=script, seed=40 + index)
    return path


def _course_from_the_browser(qtbot: Any, course_db: Path) -> CourseWindow:
    """The course window of the first session's patient, opened from the session browser."""
    browser = SessionBrowser(course_db, REVIEWER)
    qtbot.addWidget(browser)
    browser.table.selectRow(0)
    window = browser.open_course()
    assert isinstance(window, CourseWindow)
    qtbot.addWidget(window)
    return window


def test_course_opens_from_the_browser_with_one_row_per_session(qtbot: Any, course_db: Path,
                                                                  tmp_path: Path) -> None:
    window = _course_from_the_browser(qtbot, course_db)
    with Store(course_db, readonly=True) as store:
        course = load_course_by_mrn(store, MRN)
    assert window.table.rowCount() == 2
    shown = [[window.table.item(r, c).text() for c in range(len(COLUMNS))] for r in range(2)]
    assert shown == cell_texts(course)
    phq = [title for title, _ in COLUMNS].index("PHQ-9")
    assert [row[phq] for row in shown] == ["18 moderately severe", "8 mild"]
    assert "ketamine series 2 of 6" in window.header.text() and "next session due" in window.header.text()
    target = tmp_path / "course.csv"
    window.choose_export_path = lambda fmt, name: str(target)
    assert window.export("csv") == target
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [r["phq9"] for r in rows] == ["18", "8"]
    with Store(course_db, readonly=True) as store:
        assert any(a["action"] == "course_export" and a["user"] == REVIEWER.name for a in store.audit_log())
    window.deidentify_box.setChecked(True)
    target_json = tmp_path / "course.json"
    window.choose_export_path = lambda fmt, name: str(target_json)
    window.export("json")
    assert MRN not in target_json.read_text() and json.loads(target_json.read_text())["patient"] is None


def test_the_course_charts_count_whole_sessions_on_one_axis(qtbot: Any, course_db: Path) -> None:
    """The charts' session axis read "0.7 0.8 … 1.3" around a single session; the three charts now stand on the
    same axis of whole sessions, whatever each one holds."""
    window = _course_from_the_browser(qtbot, course_db)
    for plot in (window.rise_plot, window.outcome_plot, window.cadss_plot):
        axis = plot.getAxis("bottom")
        (low, high), _y = plot.viewRange()
        assert (low, high) == (0.5, 2.5)
        # The ticks set on the axis (pyqtgraph keeps them there and has no getter; they are what it draws).
        assert axis._tickLevels[0] == [(1.0, "1"), (2.0, "2")]
    # Neither session scored the CADSS-6: no bar, where bars of 0 read as "no dissociation" measured.
    assert [row[[t for t, _ in COLUMNS].index("CADSS max")] for row in cell_texts(window.course)] == ["-", "-"]
    assert not [item for item in window.cadss_plot.getPlotItem().items if isinstance(item, pg.BarGraphItem)]
    assert [item for item in window.rise_plot.getPlotItem().items if isinstance(item, pg.BarGraphItem)]


def test_course_opens_from_the_review_window(qtbot: Any, course_db: Path) -> None:
    with Store(course_db, readonly=True) as store:
        first = load_course_by_mrn(store, MRN).rows[0].session_id
    review = ReviewWindow(course_db, first, REVIEWER)
    qtbot.addWidget(review)
    window = review.open_course()
    assert isinstance(window, CourseWindow)
    qtbot.addWidget(window)
    assert window.table.rowCount() == 2


def test_a_nasal_spray_session_is_reviewed_in_its_protocols_words(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    script = Script([
        (Phase.BASELINE, 20, "checklist", {"quick": "f3 e t:partner c m- p:na w81"}),
        (Phase.BASELINE, 30, "plan_dose", {"total_mg": 84, "lot": "LOT-20", "weight_kg": 81}),
    ])
    recorder = record(path, load_protocol("esketamine-nasal"), start=START, plan=SessionPlan(5, 5, 30),
                      script=script, stop_after_s=35 * 60)
    assert recorder.session.phase is Phase.RECOVERY
    review = ReviewWindow(path, recorder.session.id, REVIEWER)
    qtbot.addWidget(review)
    words = ["pre-dose", "dosing", "observation"]
    assert [name.toPlainText() for name in review.chart.phase_names] == [w.upper() for w in words]
    column = [review.stats_table.item(row, 0).text() for row in range(review.stats_table.rowCount())]
    assert [text for text in column if text] == words
    assert {review.nibp_table.item(row, 1).text() for row in range(review.nibp_table.rowCount())} == {
        "pre-dose", "observation"}  # no automatic cuff between sprays
    assert review.span_label.text().endswith(" · setup → pre-dose → dosing → observation")
    names = [review.event_table.item(row, 2).text() for row in range(review.event_table.rowCount())]
    assert [n for n in names if n.endswith((" started", " stopped"))] == [
        "Session started", "Pre-dose started", "Dosing started", "Dosing stopped", "Observation started"]


def test_questionnaire_intervention_and_an_audited_override_in_the_live_window(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=60.0, first_status=True)
    w.questionnaires()
    assert isinstance(w.dialog, QuestionnaireDialog) and w.dialog.questionnaire.name == "PHQ-9"
    for key in "012301230":
        qtbot.keyClick(w.dialog, key)
    qtbot.waitUntil(lambda: isinstance(w.dialog, QuestionnaireDialog) and w.dialog.questionnaire.name == "GAD-7",
                    timeout=WAIT_MS)
    qtbot.keyClick(w.dialog, Qt.Key.Key_3)
    qtbot.keyClick(w.dialog, Qt.Key.Key_Backspace)  # a slip, taken back
    for key in "1111111":
        qtbot.keyClick(w.dialog, key)
    qtbot.waitUntil(lambda: len(stored_events(db_path, "outcome_score")) == 2, timeout=WAIT_MS)
    scores = {e.detail["scale"]: e.detail for e in stored_events(db_path, "outcome_score")}
    assert (scores["PHQ-9"]["total"], scores["PHQ-9"]["band"]) == (12, "moderate")
    assert (scores["GAD-7"]["total"], scores["GAD-7"]["band"]) == (7, "mild")

    w.phase_buttons["start_baseline"].click()
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.BASELINE and not w.last_status.baseline_missing,
                    timeout=WAIT_MS)
    w.phase_buttons["start_infusion"].click()
    assert isinstance(w.dialog, TextDialog)
    prompt = " ".join(label.text() for label in w.dialog.findChildren(QLabel))
    assert "fasting: not recorded" in prompt and "dose: not planned" in prompt
    w.dialog.set_text("patient known to the clinic, checklist on paper")
    w.dialog.accept()
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.INFUSION, timeout=WAIT_MS)
    # The window hears of the phase before the recorder's next flush has stored its event.
    qtbot.waitUntil(lambda: len(stored_events(db_path, "infusion_started")) == 1, timeout=WAIT_MS)
    started = stored_events(db_path, "infusion_started")[0]
    assert started.detail["override_reason"] == "patient known to the clinic, checklist on paper"
    assert "dose: not planned" in started.detail["protocol_override"]

    w.intervention_entry()
    assert isinstance(w.dialog, InterventionDialog)
    w.dialog.kind.setCurrentText("oxygen")
    w.dialog.amount.setValue(2)
    w.dialog.accept()
    qtbot.waitUntil(lambda: len(stored_events(db_path, "intervention")) == 1, timeout=WAIT_MS)
    assert stored_events(db_path, "intervention")[0].detail["text"] == "oxygen 2 L/min, route not recorded"
    with Store(db_path, readonly=True) as store:
        assert any(a["action"] == "protocol_override" for a in store.audit_log())
    qtbot.waitUntil(lambda: EventKind.INTERVENTION in {e.kind for e in w.events}, timeout=WAIT_MS)


def test_rems_dialog_gives_the_asked_answers_on_the_sessions_day(qtbot: Any) -> None:
    from datetime import datetime

    from monitor import rems
    from ui.chair_dialogs import RemsDialog

    start = datetime(2026, 3, 2, 9, 15).timestamp()
    dialog = RemsDialog(None, start, {"respiratory_depression": False}, now=start + 3 * 3600)
    qtbot.addWidget(dialog)
    assert dialog.answers["respiratory_depression"].currentText() == "no"
    dialog.site.setText("Harbour Clinic")
    dialog.ready.setTime(dialog.ready.time().fromString("11:05", "HH:mm"))
    dialog.answers["vitals_acceptable_before_dosing"].setCurrentText("yes")
    values = dialog.values()
    assert values["ready_to_leave_at"] == datetime(2026, 3, 2, 11, 5).timestamp()
    assert values["site"] == "Harbour Clinic" and values["vitals_acceptable_before_dosing"] == "yes"
    assert "vitals_acceptable_before_discharge" not in values
    # Every answer passes the form's own check.
    assert {k: rems.check_answer(k, v) for k, v in values.items()}["respiratory_depression"] is False


def test_rems_button_only_for_a_rems_protocol(qtbot: Any, make_window: Any) -> None:
    w = make_window(speed=10.0)
    assert not w.rems_button.isVisibleTo(w)
    w.rems_entry()
    assert "has no REMS form" in w.message.text()


def test_the_respiratory_check_is_one_key_where_the_protocol_asks_it(qtbot: Any, make_window: Any,
                                                                     db_path: Path) -> None:
    """The esketamine protocol asks a respiratory check at about 40 minutes; a monitor without a respiratory rate
    leaves it to the nurse, whose count and observation are entered with E (before, nothing in the window could
    answer it: it was always missed, escalated to a high alarm and held up discharge)."""
    w = make_window(speed=10.0, protocol="esketamine-nasal", first_status=True)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    assert w.breathing_button.isVisibleTo(w) and w.breathing_button.text() == "Breathing (E)"
    qtbot.keyClick(w, Qt.Key.Key_E)
    dialog = w.dialog
    assert isinstance(dialog, RespirationDialog) and not dialog.depression.isChecked()
    qtbot.keyClick(dialog.rate, Qt.Key.Key_Return)  # nothing counted: refused, the dialog stays
    assert dialog.isVisible() and "breaths a minute from 0 to 80" in dialog.message.text()
    qtbot.keyClicks(dialog.rate, "9")
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=5000)
    qtbot.keyClick(dialog.rate, Qt.Key.Key_Tab)  # to the box, ticked with Space
    assert dialog.depression.hasFocus()
    qtbot.keyClick(dialog.depression, Qt.Key.Key_Space)
    assert dialog.depression.isChecked()
    qtbot.keyClick(dialog.depression, Qt.Key.Key_Return)  # Enter records it from the box too
    assert w.dialog is None
    qtbot.waitUntil(lambda: bool(stored_events(db_path, "score")), timeout=5000)
    [score] = stored_events(db_path, "score")
    assert dict(score.detail) == {"scale": "respiration", "value": 9, "depression": True}


def test_no_respiratory_check_key_where_the_protocol_asks_none(qtbot: Any, make_window: Any) -> None:
    w = make_window(speed=10.0, first_status=True)
    assert not w.breathing_button.isVisibleTo(w)
    w.respiratory_check()
    assert w.dialog is None


def test_the_review_timeline_says_what_was_entered(course_db: Path) -> None:
    from ui.review_window import event_detail

    with Store(course_db, readonly=True) as store:
        first = load_course_by_mrn(store, MRN).rows[0].session_id
        events = store.events(first)
    texts = {e.kind: event_detail(e) for e in events}
    assert texts[EventKind.DOSE_PLANNED] == "dose 37.5 mg (0.5 mg/kg) at 281.25 mg/h"
    assert texts[EventKind.OUTCOME_SCORE] == "PHQ-9 18 (moderately severe)"
    assert texts[EventKind.CHECKLIST] == "checklist complete"


def test_opening_the_course_is_recorded_as_a_review_is(qtbot: Any, course_db: Path) -> None:
    """The course window shows the patient's name, MRN and every session, yet left no audit entry, while the same
    course read by `course` or one session in the review window did."""
    with Store(course_db) as store:
        before = {row["id"] for row in store.audit_log()}
    window = _course_from_the_browser(qtbot, course_db)
    with Store(course_db) as store:
        new = [row for row in store.audit_log() if row["id"] not in before]
    [viewed] = [row for row in new if row["action"] == "course_viewed"]
    assert viewed["user"] == REVIEWER.name
    detail = json.loads(viewed["detail"])
    assert detail["patient_key"] == window.course.patient_id
    assert detail["sessions"] == [row.session_id for row in window.course.rows] and len(detail["sessions"]) == 2
