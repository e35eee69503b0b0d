"""Times of day on the night the clocks go back (America/New_York, 2026-11-01: 01:00-02:00 comes twice).

Found under libfaketime: the live window's alarm log and `record`'s alarm lines showed an alarm that lasted 65
seconds as "01:59:40 | 01:00:45", ending before it began; the session list showed 01:05 above 01:10, newest first,
with nothing to tell them apart; a PDF made at 01:30 EST was stamped -04'00', an hour early. The review window
already named the zone there; every place now prints a moment through one function."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.alarms.engine import describe_change
from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmState, Priority
from monitor.exports import pdf_export
from monitor.wall_clock import clock_text
from tests.conftest import time_zone
from ui.dialogs import AlarmLogDialog
from ui.session_text import local_time

#: 05:59:40Z = 01:59:40 EDT; 65 s later, 06:00:45Z = 01:00:45 EST.
STARTED = datetime(2026, 11, 1, 5, 59, 40, tzinfo=UTC).timestamp()
ENDED = STARTED + 65.0


@pytest.mark.parametrize(("t", "form", "shown"), [
    (STARTED, "%H:%M:%S", "01:59:40 EDT"),
    (ENDED, "%H:%M:%S", "01:00:45 EST"),
    (STARTED - 3 * 3600, "%H:%M:%S", "22:59:40"),  # the evening before: one such time, no zone
    (ENDED + 3600, "%H:%M:%S", "02:00:45 EST"),  # after the repeated hour, within three hours of the change
    (ENDED + 3 * 3600, "%H:%M:%S", "04:00:45"),  # three hours on: one such time, and no change just before
    (STARTED, "%Y-%m-%d %H:%M", "2026-11-01 01:59 EDT"),
])
def test_a_time_of_day_names_its_zone_where_the_clock_showed_it_twice_and_just_after(
    t: float, form: str, shown: str
) -> None:
    with time_zone("America/New_York"):
        assert clock_text(t, form) == shown


def _alarm(**changes: Any) -> AlarmRecord:
    fields: dict[str, Any] = dict(id="a1", condition="spo2_low", parameter="spo2", priority=Priority.MEDIUM,
                                  kind=AlarmKind.PHYSIOLOGICAL, message="SpO2 88 < 90 %", started_at=STARTED)
    fields.update(changes)
    return AlarmRecord(**fields)


def test_an_alarm_across_the_change_ends_after_it_began_in_the_log_and_the_terminal(qtbot: Any) -> None:
    started = _alarm()
    ended = _alarm(ended_at=ENDED, state=AlarmState.ENDED)
    with time_zone("America/New_York"):
        lines = describe_change(None, started), describe_change(started, ended)
        dialog = AlarmLogDialog()
        qtbot.addWidget(dialog)
        dialog.show_alarms([ended])
        cells = dialog.table.item(0, 0).text(), dialog.table.item(0, 1).text()
        listed = local_time(STARTED - 600), local_time(STARTED + 600)
    assert lines[0] is not None and "01:59:40 EDT SpO2 88 < 90 %" in lines[0]
    assert lines[1] is not None and "01:00:45 EST SpO2 88 < 90 %" in lines[1] and lines[1].endswith("ended")
    assert cells == ("01:59:40 EDT", "01:00:45 EST")
    assert listed == ("2026-11-01 01:49 EDT", "2026-11-01 01:09 EST")  # the later session no longer looks earlier


def test_a_pdf_made_in_the_repeated_hour_is_stamped_with_the_offset_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    made = datetime(2026, 11, 1, 6, 30, 1, tzinfo=UTC).timestamp()  # 01:30:01 EST, the second time
    real = time.localtime
    with time_zone("America/New_York"):
        monkeypatch.setattr(pdf_export.time, "localtime", lambda t=None: real(made if t is None else t))
        local = real(made)
        stamp = pdf_export.pdf_date(local.tm_year, local.tm_mon, local.tm_mday, local.tm_hour, local.tm_min,
                                    local.tm_sec)
    assert stamp == "D:20261101013001-05'00'"


def test_a_rems_form_is_due_seven_days_later_on_the_clinics_calendar() -> None:
    """A session on 2026-10-31 at 23:20 EDT: its form is due 2026-11-07 23:20 EST, seven calendar days on, as the
    course counts days (7 x 24 h ended at 22:20 EST, and "OVERDUE" showed an hour early)."""
    from monitor.rems import submission_due

    with time_zone("America/New_York"):
        started = datetime(2026, 11, 1, 3, 20, tzinfo=UTC).timestamp()  # 23:20 EDT on 31 October
        due = submission_due(started)
        assert clock_text(due, "%Y-%m-%d %H:%M %Z") == "2026-11-07 23:20 EST"
        assert due - started == 7 * 86_400 + 3600
