"""The session browser on sessions recorded for real: listing, filters, unfinished sessions, opening review."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from drivers.core.readings import Parameter, Reading
from monitor.alarms.model import Priority
from monitor.review import search_sessions
from monitor.session import length_text
from monitor.store import Store
from monitor.store.held_file import HELD_ROWS_WRITTEN, write_recovery_file
from monitor.store.operations import Batch
from tests.conftest import leave_unfinished
from tests.ui.review_sessions import DAY, NURSE, START, record
from ui.dialogs import ConfirmDialog, SignedInUser
from ui.session_browser import (
    COLUMNS,
    UNFINISHED_BACKGROUND,
    WAITING_TEXT,
    SessionBrowser,
    UnfinishedSessionsDialog,
    local_time,
    phases_text,
)

REVIEWER = SignedInUser("Dr Mensah", "physician")
SHORT = "baseline:3,infusion:12,recovery:5"  # 20 min (the baseline lasts at least 3 min)


@pytest.fixture(scope="module")
def recorded_db(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four sessions on four days: uneventful, hypertensive (high alarms), probe off (medium), and one
    whose recording process died (unfinished)."""
    path = tmp_path_factory.mktemp("browser") / "monitor.db"
    ids = {
        "normal": record(path, mrn="MRN-1001", start=START, plan=SHORT),
        "hypertension": record(path, mrn="MRN-2002", start=START + 2 * DAY, scenario="hypertension",
                               plan="baseline:2,infusion:40,recovery:6"),
        "probe_off": record(path, mrn="XYZ-3003", start=START + 5 * DAY, scenario="probe_off", plan=SHORT),
        "crashed": record(path, mrn="MRN-4004", start=START + 7 * DAY, plan=SHORT, stop_after_infusion_min=4),
    }
    leave_unfinished(path, ids["crashed"])
    return {"path": path, "ids": ids}


@pytest.fixture
def db(recorded_db: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A copy of the recorded database that a test may change."""
    path = tmp_path / "monitor.db"
    shutil.copy(recorded_db["path"], path)
    return {"path": path, "ids": recorded_db["ids"]}


@pytest.fixture
def browser(qtbot: Any, db: dict[str, Any]) -> SessionBrowser:
    widget = SessionBrowser(db["path"], REVIEWER)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _row_of(browser: SessionBrowser, session_id: str) -> int:
    return next(i for i, f in enumerate(browser.table.found) if f.summary.id == session_id)


def _cells(browser: SessionBrowser, row: int) -> list[str]:
    return [browser.table.item(row, c).text() for c in range(browser.table.columnCount())]


def test_every_session_is_listed_with_start_patient_length_phases_status_and_alarm_counts(
    browser: SessionBrowser, db: dict[str, Any]
) -> None:
    assert browser.table.rowCount() == 4
    with Store(db["path"], readonly=True) as store:
        summaries = {s.id: s for s in store.sessions()}
        alarms = {sid: store.alarms(sid) for sid in summaries}
    # Newest first.
    assert [f.summary.id for f in browser.table.found] == [db["ids"][k] for k in
                                                          ("crashed", "probe_off", "hypertension", "normal")]
    for session_id, summary in summaries.items():
        cells = _cells(browser, _row_of(browser, session_id))
        counts = [sum(1 for a in alarms[session_id] if a.priority.label == p) for p in ("high", "medium", "low")]
        assert cells[0] == local_time(summary.started_at)
        assert cells[1] == summary.patient
        assert cells[2] == length_text(summary.length_s)
        assert cells[3] == phases_text(summary.phases_reached)
        assert cells[COLUMNS.index("High"):] == [str(n) for n in counts]
    hypertension = _cells(browser, _row_of(browser, db["ids"]["hypertension"]))
    assert int(hypertension[COLUMNS.index("High")]) >= 1  # the hypertensive session had high-priority alarms
    assert _cells(browser, _row_of(browser, db["ids"]["normal"]))[3] == "baseline → infusion → recovery → complete"
    assert _cells(browser, _row_of(browser, db["ids"]["crashed"]))[3] == "baseline → infusion"
    assert _cells(browser, _row_of(browser, db["ids"]["normal"]))[4] == "complete"
    assert _cells(browser, _row_of(browser, db["ids"]["normal"]))[2] == "20 min"


def test_filters_by_patient_highest_alarm_and_dates(browser: SessionBrowser, db: dict[str, Any]) -> None:
    ids = db["ids"]

    def listed() -> set[str]:
        return {f.summary.id for f in browser.table.found}

    browser.mrn_edit.setText("mrn-")  # part of the MRN, any case
    assert listed() == {ids["normal"], ids["hypertension"], ids["crashed"]}
    browser.mrn_edit.setText("2002")
    assert listed() == {ids["hypertension"]}
    browser.mrn_edit.clear()

    browser.alarm_box.setCurrentText("*** high")
    assert listed() == {ids["hypertension"]}
    browser.alarm_box.setCurrentText("** medium")
    assert listed() == {ids["probe_off"]}
    browser.alarm_box.setCurrentText("no alarms")
    assert listed() == {ids["normal"], ids["crashed"]}
    browser.alarm_box.setCurrentText("any")
    assert len(listed()) == 4

    # Local calendar days: from the hypertension day to the probe-off day, both included.
    def day(t: float) -> QDate:
        d = datetime.fromtimestamp(t).astimezone().date()
        return QDate(d.year, d.month, d.day)

    browser.date_from.setDate(day(START + 2 * DAY))
    browser.date_to.setDate(day(START + 5 * DAY))
    assert len(listed()) == 4  # the dates only count once the filter is on
    browser.date_filter.setChecked(True)
    assert listed() == {ids["hypertension"], ids["probe_off"]}
    browser.mrn_edit.setText("XYZ")
    assert listed() == {ids["probe_off"]}
    assert browser.summary.text().startswith("1 session ")


def test_an_unfinished_session_is_marked_and_can_be_closed_with_an_audit_entry(
    qtbot: Any, browser: SessionBrowser, db: dict[str, Any]
) -> None:
    crashed = db["ids"]["crashed"]
    row = _row_of(browser, crashed)
    status = browser.table.item(row, 4)
    assert status.text().startswith("UNFINISHED")
    assert status.background().color() == QColor(UNFINISHED_BACKGROUND)
    assert "1 UNFINISHED" in browser.summary.text()
    complete_row = _row_of(browser, db["ids"]["normal"])
    assert browser.table.item(complete_row, 4).background().color() != QColor(UNFINISHED_BACKGROUND)

    browser.table.selectRow(complete_row)
    assert not browser.close_button.isEnabled()
    assert not browser.resume_button.isEnabled()
    browser.table.selectRow(row)
    assert browser.close_button.isEnabled()
    assert browser.resume_button.isEnabled()

    with Store(db["path"], readonly=True) as store:
        last_reading = max(r.t for r in store.readings(crashed))
    browser.close_button.click()
    assert isinstance(browser.dialog, ConfirmDialog)
    browser.dialog.no_button.click()  # changed her mind: still unfinished
    with Store(db["path"], readonly=True) as store:
        assert store.status_of(store.session_row(crashed)) == "unfinished"
    browser.close_button.click()
    with qtbot.waitSignal(browser.session_closed, timeout=5000) as closed:
        browser.dialog.yes_button.click()
    assert closed.args == [crashed]

    with Store(db["path"], readonly=True) as store:
        row_after = store.session_row(crashed)
        audit = store.audit_log(crashed)
    assert row_after["status"] == "closed"
    assert row_after["ended_at"] == last_reading
    assert row_after["owner_pid"] is None
    assert [(a["action"], a["user"]) for a in audit][-1] == ("session_closed_after_crash", REVIEWER.name)
    assert _cells(browser, _row_of(browser, crashed))[4] == "closed after a crash"
    assert "UNFINISHED" not in browser.summary.text()


def test_closing_a_session_that_is_no_longer_unfinished_is_refused(browser: SessionBrowser,
                                                                   db: dict[str, Any]) -> None:
    assert not browser.close_session(db["ids"]["normal"])
    assert "only an unfinished session can be closed" in browser.messages[-1]
    with Store(db["path"], readonly=True) as store:
        assert store.session_row(db["ids"]["normal"])["status"] == "complete"


def test_resume_asks_and_then_hands_the_session_to_the_application(
    qtbot: Any, browser: SessionBrowser, db: dict[str, Any]
) -> None:
    browser.table.selectRow(_row_of(browser, db["ids"]["crashed"]))
    browser.resume_button.click()
    with qtbot.waitSignal(browser.resume_requested, timeout=5000) as asked:
        browser.dialog.yes_button.click()
    assert asked.args == [db["ids"]["crashed"]]


def test_enter_or_double_click_opens_the_session_in_review(
    qtbot: Any, browser: SessionBrowser, db: dict[str, Any]
) -> None:
    from ui.review_window import ReviewWindow

    row = _row_of(browser, db["ids"]["hypertension"])
    browser.table.selectRow(row)
    browser.table.setFocus()
    qtbot.keyClick(browser.table, Qt.Key.Key_Return)
    assert len(browser.reviews) == 1
    review = browser.reviews[0]
    assert isinstance(review, ReviewWindow)
    assert review.record is not None and review.record.id == db["ids"]["hypertension"]
    assert "MRN-2002" in review.patient_label.text()

    browser.table.cellDoubleClicked.emit(_row_of(browser, db["ids"]["normal"]), 0)
    assert [w.record.id for w in browser.reviews] == [db["ids"]["hypertension"], db["ids"]["normal"]]
    browser.close()
    assert not any(w.isVisible() for w in browser.reviews)


def _enter(qtbot: Any, browser: SessionBrowser) -> None:
    """Return pressed where the browser's keyboard is."""
    browser.activateWindow()
    qtbot.waitUntil(browser.isActiveWindow, timeout=5_000)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)


def test_enter_opens_the_selected_session_as_the_browser_opens_and_searches_in_a_typed_filter(
    qtbot: Any, browser: SessionBrowser, db: dict[str, Any]
) -> None:
    """Enter did nothing as the browser opened: the keyboard was on the date filter's box, 8 Tabs from the list."""
    ids = db["ids"]
    browser.activateWindow()
    qtbot.waitUntil(browser.isActiveWindow, timeout=5_000)
    assert QApplication.focusWidget() is browser.table
    _enter(qtbot, browser)
    assert [w.record.id for w in browser.reviews] == [ids["crashed"]]  # the newest, selected as it opened

    browser.date_filter.setFocus()  # a box, a button: Enter still opens the selected session
    _enter(qtbot, browser)
    assert len(browser.reviews) == 2

    browser.mrn_edit.setFocus()
    qtbot.keyClicks(browser.mrn_edit, "2002")
    _enter(qtbot, browser)  # in the MRN field Enter searches, and the keyboard goes to what it found
    assert len(browser.reviews) == 2
    assert QApplication.focusWidget() is browser.table
    assert browser.table.selected().summary.id == ids["hypertension"]
    qtbot.keyClick(browser.refresh_button, Qt.Key.Key_F5)  # a refresh keeps the session selected
    _enter(qtbot, browser)
    assert browser.reviews[-1].record.id == ids["hypertension"]

    browser.close()
    browser.mrn_edit.clear()
    browser.show()  # opened again: the list has the keyboard again
    browser.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is browser.table, timeout=5_000)


def test_unfinished_sessions_at_start_can_be_closed_then_the_dialog_steps_aside(
    qtbot: Any, db: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    told: list[tuple[Path, str, bool]] = []
    monkeypatch.setattr("ui.session_browser.send_close_to_server",
                        lambda path, session_id, *, still_recording: told.append((path, session_id, still_recording)))
    dialog = UnfinishedSessionsDialog(db["path"], REVIEWER)
    qtbot.addWidget(dialog)
    dialog.open()
    assert [f.summary.id for f in dialog.table.found] == [db["ids"]["crashed"]]
    with qtbot.waitSignal(dialog.rejected, timeout=5000):
        dialog.close_button.click()  # the last one closed: nothing left to ask
    assert dialog.chosen is None
    with Store(db["path"], readonly=True) as store:
        assert store.unfinished_sessions() == []
        assert store.audit_log(db["ids"]["crashed"])[-1]["user"] == REVIEWER.name
    # The clinic's server hears of the close too (the nurse station would otherwise go on showing the session).
    assert dialog.server_thread is not None
    dialog.server_thread.join(5)
    assert told == [(Path(db["path"]), db["ids"]["crashed"], False)]


def test_unfinished_session_chosen_for_resume_at_start(qtbot: Any, db: dict[str, Any]) -> None:
    dialog = UnfinishedSessionsDialog(db["path"], REVIEWER)
    qtbot.addWidget(dialog)
    dialog.open()
    with qtbot.waitSignal(dialog.finished, timeout=5000) as finished:
        dialog.resume_button.click()
    assert finished.args == [UnfinishedSessionsDialog.RESUME]
    assert dialog.chosen == db["ids"]["crashed"]


def _waiting_rows(db: dict[str, Any], session_id: str, count: int) -> Path:
    """A recovery file as a recording's writer leaves it: ``count`` heart-rate values after the session's last
    stored one, sealed with the database's key; its path."""
    with Store(db["path"]) as store:
        last = store.last_data_at(session_id)
        assert last is not None
        held = Batch(readings=tuple(Reading(last + 1 + i, Parameter.HR, 70.0 + i, "simulated") for i in range(count)))
        written = write_recovery_file(db["path"], session_id, [held], store.keys, run="1796569893-4242", numbers=[1])
    assert written is not None
    return Path(written)


def test_a_session_whose_last_rows_wait_in_a_recovery_file_has_them_written_from_the_dialog_then_resumes(
    qtbot: Any, db: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the dialog offered to resume it and refused; the rows could be written only from the command line,
    and until then the session could be neither resumed nor closed in the window."""
    sent: list[tuple[Path, str, str | None]] = []
    monkeypatch.setattr("ui.session_browser.send_held_to_server",
                        lambda path, session_id, server: sent.append((path, session_id, server)))
    crashed = db["ids"]["crashed"]
    with Store(db["path"], readonly=True) as store:
        before = store.reading_count(crashed)
    waiting = _waiting_rows(db, crashed, 5)
    dialog = UnfinishedSessionsDialog(db["path"], REVIEWER)
    qtbot.addWidget(dialog)
    dialog.open()
    assert dialog.table.item(0, COLUMNS.index("Status")).text() == WAITING_TEXT
    assert dialog.write_button.isVisibleTo(dialog) and dialog.write_button.isEnabled()
    assert not dialog.resume_button.isEnabled() and not dialog.close_button.isEnabled()
    dialog.write_button.click()
    assert dialog.isVisible() and dialog.chosen is None
    assert dialog.message.text() == f"5 rows of session {crashed[:8]} written into the record from {waiting.name}."
    assert not waiting.exists()
    with Store(db["path"], readonly=True) as store:
        assert store.reading_count(crashed) == before + 5
        [audited] = [a for a in store.audit_log(crashed) if a["action"] == HELD_ROWS_WRITTEN]
        assert audited["user"] == REVIEWER.name
    assert not dialog.write_button.isVisibleTo(dialog) and dialog.resume_button.isEnabled()
    # Then to the clinic's server (the one configured), which also takes the nurse station's word of them off.
    assert dialog.server_thread is not None
    dialog.server_thread.join(5)
    assert sent == [(Path(db["path"]), crashed, None)]
    with qtbot.waitSignal(dialog.finished, timeout=5000) as finished:
        dialog.resume_button.click()
    assert finished.args == [UnfinishedSessionsDialog.RESUME] and dialog.chosen == crashed


def test_a_file_that_appears_after_the_dialog_listed_the_sessions_is_still_refused_in_the_dialog_that_stays(
    qtbot: Any, db: dict[str, Any]
) -> None:
    """Chosen and refused only once the dialog had gone, the program ended before its window opened (the reason on
    standard error only: nothing a nurse who started it from the desktop would see)."""
    crashed = db["ids"]["crashed"]
    dialog = UnfinishedSessionsDialog(db["path"], REVIEWER)
    qtbot.addWidget(dialog)
    dialog.open()
    waiting = _waiting_rows(db, crashed, 1)
    dialog.resume_button.click()
    assert dialog.isVisible() and dialog.chosen is None
    assert dialog.message.isVisibleTo(dialog)
    assert dialog.message.text() == (
        f"Not resumed: session {crashed[:8]} cannot be resumed yet: rows it could not write wait in {waiting}; write "
        f"them first with `infusion-monitor write-held FILE --db {db['path']}`"
    )
    # The dialog listed it again: now it offers to write them.
    assert dialog.write_button.isEnabled() and not dialog.resume_button.isEnabled()


def test_rows_changed_in_a_recovery_file_are_refused_and_the_session_stays_as_it_was(
    qtbot: Any, browser: SessionBrowser, db: dict[str, Any]
) -> None:
    crashed = db["ids"]["crashed"]
    waiting = _waiting_rows(db, crashed, 3)
    text = waiting.read_text()
    assert text.count('"hr", 70.0') == 1
    waiting.write_text(text.replace('"hr", 70.0', '"hr", 170.0'))  # one heart rate made higher
    with Store(db["path"], readonly=True) as store:
        before = store.reading_count(crashed)
    browser.refresh()
    browser.table.selectRow(_row_of(browser, crashed))
    browser.write_button.click()
    browser.dialog.yes_button.click()
    assert browser.messages[-1] == (
        f"The waiting rows were not written: {waiting}: the file was "
        "changed after this program wrote it (its keyed hash does not match); it is not written into the record"
    )
    assert waiting.exists()
    with Store(db["path"], readonly=True) as store:
        assert store.reading_count(crashed) == before
        assert store.status_of(store.session_row(crashed)) == "unfinished"


def test_resumed_from_the_browser_the_session_records_again_in_a_live_window(
    qtbot: Any, db: dict[str, Any]
) -> None:
    from ui.review_app import ReviewApp

    app = ReviewApp(db["path"], SignedInUser(NURSE, "nurse"))
    browser = app.open_browser()
    qtbot.addWidget(browser)
    crashed = db["ids"]["crashed"]
    with Store(db["path"], readonly=True) as store:
        stored_before = store.reading_count(crashed)
    try:
        browser.table.selectRow(_row_of(browser, crashed))
        browser.resume_button.click()
        browser.dialog.yes_button.click()
        qtbot.waitUntil(lambda: len(app.live) == 1, timeout=15_000)
        run, _store = app.live[0]
        qtbot.waitUntil(lambda: run.window.last_status is not None, timeout=15_000)
        assert run.bridge.recorder.session.id == crashed
        with Store(db["path"], readonly=True) as store:
            assert store.status_of(store.session_row(crashed)) == "recording"
            assert any(a["action"] == "session_resumed" and a["user"] == NURSE for a in store.audit_log(crashed))
        qtbot.waitUntil(lambda: run.bridge.recorder.status().stored_readings > stored_before, timeout=15_000)
    finally:
        app.shutdown()
    with Store(db["path"], readonly=True) as store:
        assert store.status_of(store.session_row(crashed)) != "unfinished"
        assert store.reading_count(crashed) > stored_before


def test_search_finds_what_the_browser_lists(browser: SessionBrowser, db: dict[str, Any]) -> None:
    with Store(db["path"], readonly=True) as store:
        high = {f.summary.id for f in search_sessions(store, highest_alarm=Priority.HIGH)}
    browser.alarm_box.setCurrentText("*** high")
    assert {f.summary.id for f in browser.table.found} == high


def test_the_live_window_opens_the_browser_beside_the_running_session(qtbot: Any, make_window: Any) -> None:
    window = make_window(speed=60.0, patient="MRN-7007", first_status=True)
    window.sessions_button.click()
    browser = window.browser
    assert isinstance(browser, SessionBrowser)
    assert browser.isVisible()
    assert [f.summary.patient for f in browser.table.found] == ["MRN-7007"]
    assert _cells(browser, 0)[4] == "recording now"
    assert not browser.resume_button.isEnabled()
    window.set_locked(True)
    browser.close()
    assert window.open_sessions() is None
    assert "locked" in window.messages[-1]


def test_a_session_ended_in_its_window_is_not_labelled_a_crash(qtbot: Any, tmp_path: Path) -> None:
    from tests.ui.review_sessions import record
    from ui.review_window import ReviewWindow

    path = tmp_path / "monitor.db"
    ended = record(path, mrn="MRN-2", plan="baseline:2,infusion:40,recovery:20", stop_after_infusion_min=5)
    browser = SessionBrowser(path, REVIEWER)
    qtbot.addWidget(browser)
    assert _cells(browser, _row_of(browser, ended))[4] == "closed before completion"
    review = ReviewWindow(path, ended, REVIEWER)
    qtbot.addWidget(review)
    assert review.status_badge.text().startswith("CLOSED BEFORE COMPLETION")
    assert "CRASH" not in review.status_badge.text()
