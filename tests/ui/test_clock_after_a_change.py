"""Times of day after the clocks change their UTC offset, as every screen, line and report prints them.

Found under libfaketime: in Berlin on 2026-03-29 (02:00 CET became 03:00 CEST) an SpO2 alarm of 63 seconds read
"01:59:30 | 03:00:33" in the review window, the live alarm log and `record`'s lines, an hour longer than it was; only
the PDF named the zone. In New York a time an hour after the repeated hour (02:10 EST) was printed bare, so an alarm
from 00:50 EDT read 80 minutes where it lasted 140. A time now names its zone for three hours after a change."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph, Table

from monitor.alarms.engine import describe_change
from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmState, Priority
from monitor.exports import pdf_export
from monitor.exports.data import load
from monitor.store import Store
from monitor.wall_clock import clock_text
from tests.conftest import time_zone
from tests.ui.review_sessions import record
from ui.alarm_bar import alarm_line
from ui.dialogs import AlarmLogDialog, SignedInUser
from ui.review_window import ReviewWindow


def _utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=UTC).timestamp()


#: 00:59:30Z = 01:59:30 CET; 63 s later, 01:00:33Z = 03:00:33 CEST.
STARTED = _utc(2026, 3, 29, 0, 59, 30)
ENDED = STARTED + 63.0


@pytest.mark.parametrize(("zone", "t", "shown"), [
    ("Europe/Berlin", STARTED, "01:59:30"),  # before the change: one such time, no zone
    ("Europe/Berlin", ENDED, "03:00:33 CEST"),
    ("Europe/Berlin", _utc(2026, 3, 29, 3, 59), "05:59:00 CEST"),  # 2 h 59 min after the change
    ("Europe/Berlin", _utc(2026, 3, 29, 4, 0, 33), "06:00:33"),  # three hours on: bare again
    ("America/New_York", _utc(2026, 11, 1, 7, 10), "02:10:00 EST"),  # after the repeated hour, 2 h 10 min on
    ("America/New_York", _utc(2026, 11, 1, 9, 0, 1), "04:00:01"),
    ("America/New_York", _utc(2026, 11, 1, 6, 30), "01:30:00 EST"),  # the repeated hour, as before
])
def test_a_time_names_its_zone_for_three_hours_after_a_change(zone: str, t: float, shown: str) -> None:
    with time_zone(zone):
        assert clock_text(t) == shown


def test_an_alarm_across_the_spring_change_ends_63_s_after_it_began_in_the_log_the_bar_and_the_terminal(
    qtbot: Any,
) -> None:
    started = AlarmRecord(id="a1", condition="spo2_low_severe", parameter="spo2", priority=Priority.HIGH,
                          kind=AlarmKind.PHYSIOLOGICAL, message="SpO2 85 < 90 %", started_at=STARTED)
    ended = dataclasses.replace(started, ended_at=ENDED, state=AlarmState.ENDED)
    again = dataclasses.replace(started, started_at=ENDED)  # back in breach just after the change
    with time_zone("Europe/Berlin"):
        lines = describe_change(None, started), describe_change(started, ended)
        bar = alarm_line(again)
        dialog = AlarmLogDialog()
        qtbot.addWidget(dialog)
        dialog.show_alarms([ended])
        cells = dialog.table.item(0, 0).text(), dialog.table.item(0, 1).text()
    assert lines[0] is not None and "01:59:30 SpO2 85 < 90 %" in lines[0]
    assert lines[1] is not None and "03:00:33 CEST SpO2 85 < 90 %" in lines[1]
    assert bar.endswith("since 03:00:33 CEST")
    assert cells == ("01:59:30", "03:00:33 CEST")


@pytest.fixture(scope="module")
def berlin_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A desaturation recorded from 01:34:20 CET: its severe SpO2 alarm runs from 01:59:30 CET to 03:00:33 CEST."""
    path = tmp_path_factory.mktemp("berlin") / "monitor.db"
    with time_zone("Europe/Berlin"):
        return path, record(path, mrn="B2", start=_utc(2026, 3, 29, 0, 34, 20), scenario="desaturation",
                            plan="baseline:5,infusion:40,recovery:10", charted=True)


def test_the_review_window_and_the_pdf_say_the_same_times(qtbot: Any, berlin_session: tuple[Path, str]) -> None:
    path, session_id = berlin_session
    with time_zone("Europe/Berlin"):
        window = ReviewWindow(path, session_id, SignedInUser("Dr Mensah", "physician"))
        qtbot.addWidget(window)
        table = window.alarm_table
        shown = [(table.item(r, 2).text(), table.item(r, 3).text()) for r in range(table.rowCount())]
        with Store(path, readonly=True) as store:
            report = load(store, session_id)
        clock = pdf_export._Clock(report)
        printed = [(clock.wall(a.started_at), clock.wall(a.ended_at)) for a in report.alarms]
    assert ("01:59:30", "03:00:33 CEST") in shown
    assert sorted(shown) == sorted(printed)


def test_no_time_in_the_reports_tables_runs_into_the_next_column(berlin_session: tuple[Path, str]) -> None:
    """"03:04:56 CEST (t+0:30:36)" was wider than its 38 mm column and ran into the phase beside it."""
    path, session_id = berlin_session
    with time_zone("Europe/Berlin"), Store(path, readonly=True) as store:
        flowables = pdf_export.story(load(store, session_id))
    tables = [f for f in flowables if isinstance(f, Table) and None not in f._argW]
    padding = 6  # reportlab's cell padding on the left: text past the column's right edge crosses its line
    too_wide = [(cell, width) for table in tables for row in table._cellvalues
                for width, cell in zip(table._argW, row, strict=True)
                if isinstance(cell, str) and stringWidth(cell, pdf_export.FONT, 8) + padding > width]
    # A time set as a paragraph wraps rather than overflow: it should still take one line.
    times = [(cell, width) for table in tables for row in table._cellvalues
             for width, cell in zip(table._argW, row, strict=True)
             if isinstance(cell, Paragraph) and re.match(r"\d\d:\d\d:\d\d CEST", cell.text)]
    wrapped = [cell.text for cell, width in times
               if cell.wrap(width - 2 * padding, 1000) and len(cell.blPara.lines) > 1]
    assert times, "the session has times after the change"
    assert too_wide == [] and wrapped == []


def test_the_live_window_header_and_cuff_schedule_name_the_zone_in_the_repeated_hour(make_window: Any) -> None:
    window = make_window(plan="baseline:1,infusion:40,recovery:30", first_status=True)
    second_0129 = _utc(2026, 11, 1, 6, 29, 9)  # 01:29:09 EST, the second time
    status = dataclasses.replace(window.last_status, now=second_0129, nibp_next_due=second_0129 + 200,
                                 can_start_nibp=True, nibp_interval_s=300.0)
    with time_zone("America/New_York"):
        window.show_status(status)
        header, schedule = window.header.clock.text(), window.numerics.nibp_schedule.text()
    assert header == "01:29:09 EST"
    assert schedule.startswith("next cuff 01:32 EST (in 03:20)")
