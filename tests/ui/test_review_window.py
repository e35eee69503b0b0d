"""The review window on a hypertensive session recorded for real (with pleth, notes, scores,
acknowledged alarms and discharge scoring): chart, lists that move it, tables, addenda, exports."""

from __future__ import annotations

import csv
import io
import math
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from drivers.simulated.driver import SimulatedSource
from monitor import review
from monitor.alarms.engine import AlarmEngine
from monitor.discharge import NurseAssessment, assess_discharge
from monitor.exports import pdf_export
from monitor.exports.data import load
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.session import EventKind, Phase
from monitor.store import Store
from tests.conftest import leave_unfinished
from tests.ui.review_sessions import NURSE, START, record
from ui import theme
from ui.dialogs import SignedInUser
from ui.review_window import AddendumDialog, ReviewWindow, clock, duration, number

MRN = "MRN-5150"
REVIEWER = SignedInUser("Dr Mensah", "physician")
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 63-minute hypertensive session with the pleth, charted by the nurse."""
    path = tmp_path_factory.mktemp("review") / "monitor.db"
    session_id = record(path, mrn=MRN, scenario="hypertension", plan="baseline:3,infusion:40,recovery:20",
                        pleth=True, charted=True)
    return path, session_id


@pytest.fixture
def db(recorded: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A copy of the recorded session that a test may add to."""
    path = tmp_path / "monitor.db"
    shutil.copy(recorded[0], path)
    return path, recorded[1]


@pytest.fixture
def window(qtbot: Any, db: tuple[Path, str]) -> ReviewWindow:
    w = ReviewWindow(db[0], db[1], REVIEWER)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def _record(db: tuple[Path, str]) -> Any:
    with Store(db[0], readonly=True) as store:
        return load(store, db[1])


def _cells(table: Any) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_the_whole_session_is_on_the_chart_with_the_stored_pleth(window: ReviewWindow, db: tuple[Path, str]) -> None:
    record = _record(db)
    left, right = window.chart.x_range()
    first = min(r.t for r in record.readings)
    assert left <= first and right >= float(record.session["ended_at"])
    hr_curve = window.chart.curves[review.heart_rate_parameter(record)]
    stored_hr = [r for r in record.readings if r.parameter is review.heart_rate_parameter(record)]
    assert hr_curve.xData.tolist() == [r.t for r in stored_hr]
    assert np.array_equal(hr_curve.yData, [r.value if r.reliable else np.nan for r in stored_hr], equal_nan=True)
    with Store(db[0], readonly=True) as store:
        times, values = store.waveform(db[1])
    assert len(values) > 60 * 60 * 50
    assert window.chart.pleth_track is not None
    # The whole session: no waveform is read (it could not be seen), only a hint to zoom in.
    assert window.chart.pleth_track_curve.xData is None or len(window.chart.pleth_track_curve.xData) == 0
    assert "zoom in" in window.chart._pleth_hint.textItem.toPlainText()
    # Zoomed in on one minute: exactly the stored samples of that minute (and a margin) are read and drawn.
    middle = times[len(times) // 2]
    window.chart.show_range(middle, middle + 60)
    QApplication.processEvents()
    pleth_t, pleth_v = window.chart.pleth_track_curve.xData, window.chart.pleth_track_curve.yData
    stored_t, stored_v = np.asarray(times), np.asarray(values)
    inside = (stored_t >= middle) & (stored_t <= middle + 60)
    finite = np.isfinite(pleth_v)
    drawn = (pleth_t >= middle) & (pleth_t <= middle + 60) & finite
    assert drawn.sum() == inside.sum() > 50 * 60
    assert np.allclose(pleth_v[drawn], stored_v[inside])
    assert pleth_t[finite].min() >= middle - 120 - 1 and pleth_t[finite].max() <= middle + 180 + 1
    window.show_whole_session()
    QApplication.processEvents()
    released = window.chart.pleth_track_curve.xData
    assert released is None or len(released) == 0  # let go again
    assert window.chart.live_button.text() == "Whole session"
    assert not window.chart.live_button.isEnabled()


def test_alarm_list_shows_priority_condition_times_peak_limit_and_who_acknowledged(
    window: ReviewWindow, db: tuple[Path, str]
) -> None:
    record = _record(db)
    rows = _cells(window.alarm_table)
    alarms = sorted(record.alarms, key=lambda a: a.started_at)
    assert len(rows) == len(alarms) >= 3
    assert window.tabs.tabText(0) == f"Alarms ({len(alarms)})"
    for row, alarm in zip(rows, alarms, strict=True):
        assert row[0].endswith(alarm.priority.label)
        assert row[1] == alarm.condition.replace("_", " ")
        assert row[2] == clock(alarm.started_at)
        assert row[4] == number(alarm.peak_value)
        assert row[5] == number(alarm.limit)
        if alarm.acknowledged_at is not None:
            assert row[6] == alarm.acknowledged_by == NURSE
            assert row[7] == clock(alarm.acknowledged_at)
        else:
            assert row[7] == "not acknowledged"
    assert any(a.acknowledged_by == NURSE for a in alarms)  # the nurse acknowledged during the infusion


def test_selecting_an_alarm_moves_the_chart_to_it(qtbot: Any, window: ReviewWindow, db: tuple[Path, str]) -> None:
    whole = window.chart.x_range()
    alarms = sorted(_record(db).alarms, key=lambda a: a.started_at)
    for index in (len(alarms) - 1, 0):
        alarm = alarms[index]
        window.select_alarm(index)
        qtbot.waitUntil(lambda a=alarm: window.chart.x_range()[0] <= a.started_at <= window.chart.x_range()[1],
                        timeout=WAIT_MS)
        left, right = window.chart.x_range()
        assert right - left < (whole[1] - whole[0]) / 2  # zoomed in, not the whole session
        assert left <= alarm.started_at <= right
        if alarm.ended_at is not None:
            assert right >= alarm.ended_at
        cursor = window._cursor_items[0][1]
        assert cursor.isVisible() and cursor.value() == alarm.started_at
    assert window.chart.live_button.isEnabled()
    window.chart.live_button.click()  # "Whole session"
    assert window.chart.x_range() == pytest.approx(whole)


def test_selecting_a_note_or_a_cuff_measurement_moves_the_chart_too(
    qtbot: Any, window: ReviewWindow, db: tuple[Path, str]
) -> None:
    note = next(e for e in _record(db).events if e.kind is EventKind.NOTE)
    window.select_event(EventKind.NOTE)
    qtbot.waitUntil(lambda: window.chart.x_range()[0] <= note.t <= window.chart.x_range()[1], timeout=WAIT_MS)
    assert window.chart.x_range()[1] - window.chart.x_range()[0] < 1800
    last_cuff = review.nibp_table(_record(db))[-1]
    window.tabs.setCurrentWidget(window.nibp_table)
    window.nibp_table.selectRow(window.nibp_table.rowCount() - 1)
    qtbot.waitUntil(lambda: window.chart.x_range()[0] <= last_cuff.t <= window.chart.x_range()[1], timeout=WAIT_MS)
    assert not window.chart.x_range()[0] <= note.t <= window.chart.x_range()[1]


def test_events_notes_and_scores_are_listed_with_who(window: ReviewWindow, db: tuple[Path, str]) -> None:
    rows = _cells(window.event_table)
    entries = {row[2]: row for row in rows}
    assert entries["Note"][3] == "Patient calm, reports mild dissociation"
    assert entries["Note"][4] == NURSE
    assert entries["Score"][3] == "MOAA/S 5"
    assert entries["Event"][3] == "Mild nausea, settled"
    assert "criteria met" in entries["Discharge scored"][3]
    assert "Infusion started" in entries and "Recovery started" in entries
    assert all(row[2] != "nibp_requested" for row in rows)


def test_statistics_table_shows_what_the_review_computes(window: ReviewWindow, db: tuple[Path, str]) -> None:
    stats = review.phase_statistics(_record(db))
    shown = [s for s in stats if not (s.parameter.value == "pr" and s.count == 0)]
    rows = window.statistics_cells()
    assert len(rows) == len(shown)
    phase = ""
    for row, s in zip(rows, shown, strict=True):
        phase = row[0] or phase
        assert phase == s.phase.value
        assert row[2] == str(s.count)
        assert row[3:] == [number(v) for v in (s.minimum, s.maximum, s.mean, s.median)]
    infusion_sys = next(s for s in stats if s.phase.value == "infusion" and s.parameter.value == "nibp_sys")
    assert infusion_sys.maximum is not None and infusion_sys.maximum > 180  # the hypertensive peak


def test_baseline_against_end_of_recovery_with_the_time_back_within_20_percent(
    window: ReviewWindow, db: tuple[Path, str]
) -> None:
    record = _record(db)
    rows = _cells(window.baseline_table)
    comparisons = review.baseline_vs_end_of_recovery(record)
    returns = {r.parameter: r for r in review.return_to_baseline(record)}
    assert len(rows) == len(comparisons)
    for row, c in zip(rows, comparisons, strict=True):
        assert row[1] == number(c.baseline)
        assert row[2] == number(c.end_of_recovery)
        back = returns.get(c.parameter)
        if back is not None:
            assert row[5] == f"{back.band[0]:.0f}–{back.band[1]:.0f}"  # whole numbers, as read on a monitor
            if back.returned:
                expected = "never left the band" if back.seconds == 0 else f"after {duration(back.seconds)}"
            else:
                expected = "NOT back by the end of the session"
            assert row[6] == expected
    systolic = next(r for r in review.return_to_baseline(record) if r.parameter.value == "nibp_sys")
    assert systolic.returned and systolic.seconds is not None and systolic.seconds > 0


def test_discharge_scores_come_from_the_recorded_scoring(window: ReviewWindow, db: tuple[Path, str]) -> None:
    scoring = review.discharge_scoring(_record(db))
    assert scoring is not None
    assert f"Scored by {NURSE}" in window.discharge_label.text()
    rows = _cells(window.discharge_table)
    totals = {row[0]: row[2] for row in rows if row[1] == "total"}
    for key in ("aldrete", "padss"):
        score = scoring.score(key)
        assert totals[score["name"]] == f"{score['total']}/{score['maximum']}"
    assert ["Escort", "present", "yes", ""] in rows
    bases = [row[3] for row in rows if row[1] not in ("total", "present", "instruction acknowledged")]
    assert "entered by the nurse" in bases and any(b.endswith(" (computed by the monitor)") for b in bases)
    assert not any(b.endswith("(nurse)") for b in bases), "the basis already says who entered it"


def test_an_addendum_on_a_completed_session_is_stored_signed_and_audited(
    qtbot: Any, window: ReviewWindow, db: tuple[Path, str]
) -> None:
    assert window.addendum_button.isEnabled()
    assert window.status_badge.text().startswith("COMPLETE · read-only")
    alarm = sorted(_record(db).alarms, key=lambda a: a.started_at)[0]
    window.select_alarm(0)
    window.addendum_button.click()
    dialog = window.dialog
    assert isinstance(dialog, AddendumDialog)
    assert dialog.about_box.isChecked()  # about the selected alarm
    dialog.set_text("Reviewed: BP rise expected with ketamine, no action needed")
    with qtbot.waitSignal(window.sessions_changed, timeout=WAIT_MS):
        dialog.accept()
    with Store(db[0], readonly=True) as store:
        addenda = [e for e in store.events(db[1]) if e.kind is EventKind.ADDENDUM]
        audit = store.audit_log(db[1])[-1]
        row = store.session_row(db[1])
    assert len(addenda) == 1
    addendum = addenda[0]
    assert addendum.user == REVIEWER.name
    assert addendum.detail["text"] == "Reviewed: BP rise expected with ketamine, no action needed"
    assert addendum.detail["role"] == "physician"
    assert addendum.detail["refers_to_at"] == alarm.started_at
    assert addendum.t > float(row["ended_at"])  # dated when written, after the session
    assert (audit["action"], audit["user"]) == ("addendum", REVIEWER.name)
    assert row["status"] == "complete"  # the record itself is unchanged
    last = _cells(window.event_table)[-1]
    assert last[2] == "ADDENDUM"
    assert last[1] == "after completion"
    assert last[4] == "Dr Mensah (physician)"
    assert last[3].startswith("Reviewed: BP rise") and f"(about {clock(alarm.started_at)})" in last[3]
    assert "1 addendum" in window.tabs.tabText(1)


def test_a_session_still_recording_takes_no_addendum(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    session_id = record(path, mrn=MRN, plan="baseline:2,infusion:12,recovery:6", stop_after_infusion_min=3)
    leave_unfinished(path, session_id)
    w = ReviewWindow(path, session_id, REVIEWER)
    qtbot.addWidget(w)
    assert not w.addendum_button.isEnabled()
    assert w.status_badge.text().startswith("UNFINISHED")
    assert w.write_addendum("late note") is None
    assert "resume or close it" in w.messages[-1]
    with Store(path, readonly=True) as store:
        assert not [e for e in store.events(session_id) if e.kind is EventKind.ADDENDUM]


def test_pdf_report_in_one_click_contains_the_patient_and_is_audited(
    qtbot: Any, window: ReviewWindow, db: tuple[Path, str], tmp_path: Path
) -> None:
    asked: list[tuple[str, str]] = []

    def choose(fmt: str, suggested: str) -> str:
        asked.append((fmt, suggested))
        return str(tmp_path / suggested)

    window.choose_export_path = choose
    with qtbot.waitSignal(window.export_finished, timeout=60_000) as done:
        window.pdf_button.click()
    fmt, path, error = done.args
    assert (fmt, error) == ("pdf", "")
    assert asked[0][1].endswith(".pdf") and MRN not in asked[0][1]  # the file name does not name the patient
    text = "\n".join(page.extract_text() for page in PdfReader(path).pages)
    assert MRN in text
    assert "Ketamine infusion session report" in text
    with Store(db[0], readonly=True) as store:
        audit = store.audit_log(db[1])[-1]
    assert (audit["action"], audit["user"]) == ("export", REVIEWER.name)
    assert '"format": "pdf"' in audit["detail"] and '"via": "review window"' in audit["detail"]
    assert str(Path(path).resolve()) in audit["detail"]
    assert "PDF export saved" in window.messages[-1]


def test_deidentified_csv_export_leaves_out_the_mrn(qtbot: Any, window: ReviewWindow, tmp_path: Path) -> None:
    window.choose_export_path = lambda fmt, suggested: str(tmp_path / suggested)
    window.deidentify_box.setChecked(True)
    with qtbot.waitSignal(window.export_finished, timeout=60_000) as done:
        window.export_buttons["csv"].click()
    fmt, path, error = done.args
    assert (fmt, error) == ("csv", "")
    assert "deidentified" in Path(path).name
    text = Path(path).read_text(encoding="utf-8")
    assert MRN not in text and "Quillfeather" not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) > 1000


def test_a_deidentified_export_is_offered_a_name_without_the_date_of_care(window: ReviewWindow) -> None:
    """The name suggested read "session-20240610-0613-…-deidentified.pdf" while the file moved every time to
    2000-01-01: the name gave back the day and time of care."""
    assert window.record is not None
    care = datetime.fromtimestamp(window.record.started_at).astimezone()
    identified = window.suggested_name("pdf")
    assert care.strftime("%Y%m%d-%H%M") in identified
    window.deidentify_box.setChecked(True)
    suffixes = {"pdf": ".pdf", "csv": ".csv", "json": ".json", "hl7": ".hl7", "fhir": ".fhir.json"}
    for fmt, suffix in suffixes.items():
        name = window.suggested_name(fmt)
        assert name == f"session-{window.record.id[:8]}-deidentified{suffix}"
        assert care.strftime("%Y%m%d") not in name


def test_an_export_that_cannot_be_written_says_so(qtbot: Any, window: ReviewWindow, tmp_path: Path) -> None:
    window.choose_export_path = lambda fmt, suggested: str(tmp_path / "missing-folder" / suggested)
    with qtbot.waitSignal(window.export_finished, timeout=60_000) as done:
        window.export_buttons["json"].click()
    assert done.args[2].startswith("cannot write")
    assert "JSON export failed" in window.messages[-1]
    assert all(button.isEnabled() for button in window.export_buttons.values())


def test_a_cancelled_save_dialog_exports_nothing(window: ReviewWindow, db: tuple[Path, str]) -> None:
    window.choose_export_path = lambda fmt, suggested: None
    assert window.export("hl7") is None
    with Store(db[0], readonly=True) as store:
        assert all(a["action"] != "export" for a in store.audit_log(db[1]))


def test_the_header_says_whether_the_record_verified(qtbot: Any, db: tuple[Path, str]) -> None:
    import sqlite3

    w = ReviewWindow(db[0], db[1], REVIEWER)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: "verified: record intact" in w.session_label.text(), timeout=WAIT_MS)
    w.close()
    conn = sqlite3.connect(db[0])
    conn.execute("UPDATE events SET user = 'someone else' WHERE id = (SELECT MIN(id) FROM events)")
    conn.commit()
    conn.close()
    again = ReviewWindow(db[0], db[1], REVIEWER)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: "NOT VERIFIED: events" in again.session_label.text(), timeout=WAIT_MS)
    assert "changed after it was written" in again.session_label.text()


def test_a_message_moves_nothing_and_a_typed_n_opens_nothing(qtbot: Any, window: ReviewWindow) -> None:
    from PySide6.QtCore import Qt

    before = {b.text(): b.mapTo(window, b.rect().topLeft()) for b in window.export_buttons.values()}
    chart_top = window.chart.mapTo(window, window.chart.rect().topLeft())
    window.show_message("PDF export saved to /a/very/long/path/" + "x" * 150 + ".pdf", warning=False)
    qtbot.wait(50)
    assert window.message.isVisible()
    assert {b.text(): b.mapTo(window, b.rect().topLeft()) for b in window.export_buttons.values()} == before
    assert window.chart.mapTo(window, window.chart.rect().topLeft()) == chart_top
    assert window.rect().contains(window.message.geometry())
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_N)  # a stray letter is not a command
    assert window.dialog is None
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.dialog is not None  # Ctrl+N opens the addendum
    window.dialog.reject()


def test_an_export_over_a_second_shows_progress_without_moving_anything(
    qtbot: Any, window: ReviewWindow, tmp_path: Path, monkeypatch: Any
) -> None:
    import time as clock

    import ui.review_window as module

    def slow_export(source: Any, session_id: str, fmt: str, options: Any, path: Any, **_how: Any) -> None:
        clock.sleep(1.6)
        Path(path).write_text("done", encoding="utf-8")

    monkeypatch.setattr(module, "export_session", slow_export)
    window.choose_export_path = lambda fmt, suggested: str(tmp_path / "slow.hl7")
    before = window.pdf_button.mapTo(window, window.pdf_button.rect().topLeft())
    with qtbot.waitSignal(window.export_finished, timeout=10_000):
        window.export("hl7")
        assert not window.export_progress.isVisible()  # not for a short export
        qtbot.waitUntil(window.export_progress.isVisible, timeout=5_000)
        assert "HL7" in window.export_progress.format()
        assert window.rect().contains(window.export_panel.geometry())
        assert window.export_cancel.isVisible() and window.export_cancel.isEnabled()
        assert window.pdf_button.mapTo(window, window.pdf_button.rect().topLeft()) == before
    assert not window.export_progress.isVisible()
    assert (tmp_path / "slow.hl7").read_text(encoding="utf-8") == "done"


@pytest.mark.parametrize("fmt", ["hl7", "pdf"])
def test_a_cancelled_export_writes_nothing(
    qtbot: Any, window: ReviewWindow, db: tuple[Path, str], tmp_path: Path, monkeypatch: Any, fmt: str
) -> None:
    """The real export, held back until the progress shows, is cancelled from the window: no file, no audit."""
    import threading

    import monitor.exports.data as data
    import ui.review_window as module

    monkeypatch.setattr(data, "STREAM_BLOCK", 50)  # the recorded session has a few thousand readings
    gate = threading.Event()
    real_export = module.export_session
    reports: list[int] = []

    def held_export(*args: Any, **kwargs: Any) -> Any:
        gate.wait(10)
        told = kwargs["on_block"]

        def counted(count: int) -> None:
            reports.append(count)
            told(count)

        return real_export(*args, **{**kwargs, "on_block": counted})

    monkeypatch.setattr(module, "export_session", held_export)
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"cancelled.{fmt}"
    window.choose_export_path = lambda fmt, suggested: str(target)
    with qtbot.waitSignal(window.export_finished, timeout=30_000) as done:
        window.export(fmt)
        qtbot.waitUntil(window.export_panel.isVisible, timeout=5_000)
        qtbot.mouseClick(window.export_cancel, Qt.MouseButton.LeftButton)
        assert not window.export_cancel.isEnabled()
        gate.set()
    assert done.args == [fmt, str(target), "cancelled"]
    assert reports == [50]  # stopped at the first block read after the click
    assert list(out.iterdir()) == []  # neither the file nor its temporary part
    assert "cancelled; nothing was written" in window.messages[-1]
    assert not window.export_panel.isVisible()
    assert all(button.isEnabled() for button in window.export_buttons.values())
    with Store(db[0]) as store:
        assert all(a["action"] != "export" for a in store.audit_log(db[1]))


def test_an_export_shows_how_far_it_has_read(
    qtbot: Any, window: ReviewWindow, db: tuple[Path, str], tmp_path: Path, monkeypatch: Any
) -> None:
    import monitor.exports.data as data

    monkeypatch.setattr(data, "STREAM_BLOCK", 100)
    seen: list[tuple[int, int]] = []
    window._export_read.connect(lambda count, total: seen.append((count, total)))
    window.choose_export_path = lambda fmt, suggested: str(tmp_path / "out.csv")
    with qtbot.waitSignal(window.export_finished, timeout=30_000) as done:
        window.export("csv")
    assert done.args[2] == ""
    with Store(db[0]) as store:
        total = store.reading_count(db[1])
    assert seen and all(t == total for _c, t in seen)
    assert [c for c, _t in seen] == list(range(100, total + 1, 100))
    assert window.export_progress.maximum() == total and window.export_progress.value() == seen[-1][0]


def test_a_discharge_completed_before_it_was_ready_says_so_with_its_reason(qtbot: Any, tmp_path: Path) -> None:
    """A reviewing physician sees in the Discharge tab that completion went past the minimum recovery, and why."""
    path = tmp_path / "monitor.db"
    plan = parse_plan("baseline:1,infusion:2,recovery:30")
    with Store(path) as store:
        source = SimulatedSource(seed=4, speed=math.inf, start_time=START, plan=plan)
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=plan, nurse=NURSE,
                                        autopilot=True, alarms=AlarmEngine())
        done: list[Any] = []

        def discharge_early(r: Recorder) -> bool:
            s = r.session
            if not done and s.phase is Phase.RECOVERY and s.now - s.phase_started_at[Phase.RECOVERY] > 300:
                result = assess_discharge(list(r.status().latest), s.baseline,
                                          NurseAssessment(2, 2, 2, False, 2, 2, 2, 2, True, True))
                r.submit("discharge_scored", NURSE, **result.as_dict())
                done.append(r.submit("complete", NURSE, override_reason="ride is here; physician reviewed"))
            return False

        recorder.run(until=discharge_early)
        done[0].result(timeout=0)
        session_id = recorder.session.id
        done_at = [e.t for e in store.events(session_id) if e.kind is EventKind.SESSION_COMPLETED]
    window = ReviewWindow(path, session_id, REVIEWER)
    qtbot.addWidget(window)
    scored, overridden = window.discharge_label.text().split("\n")
    assert scored.startswith(f"Scored by {NURSE}")
    assert overridden.startswith("Completed although not ready (") and "recovery too short" in overridden
    assert overridden.endswith(f"— reason: “ride is here; physician reviewed” ({NURSE} at {clock(done_at[0])})")
    assert theme.WARNING_TEXT in window.discharge_label.styleSheet(), "an overridden discharge is not drawn green"
    # The PDF report carries it too.
    with Store(path, readonly=True) as store:
        report = tmp_path / "report.pdf"
        with report.open("wb") as out:
            pdf_export.write(load(store, session_id), out)
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(report).pages)
    assert "Steps taken although not ready" in text and "ride is here; physician reviewed" in text
