"""The REMS form's ready-to-leave time on the night the clocks go back (America/New_York, 2026-11-01), and a time
the session never saw.

Found with the form's dialog under libfaketime: a session from 01:40 EDT, the nurse types 01:20 (meaning EST, 40
minutes later), and the form stored 01:20 EST of the next day; an answer of 01:30 EST, opened again to add the site
and saved, became 01:30 EDT, an hour earlier, untouched; and the recorder took a ready time of 1970, or ten days
later, as an answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtCore import QTime

from monitor import chair, rems
from monitor.protocols import load_protocol
from monitor.session import EventKind, Phase, Session, SessionEvent
from tests.conftest import time_zone
from ui.chair_dialogs import RemsDialog

#: 2026-11-01 05:40Z: 01:40 EDT, twenty minutes before the clocks go back from 02:00 EDT to 01:00 EST.
START = datetime(2026, 11, 1, 5, 40, tzinfo=UTC).timestamp()
HOUR = 3600.0


def _dialog(qtbot: Any, given: dict[str, Any], now: float) -> RemsDialog:
    dialog = RemsDialog(None, START, given, now=now)
    qtbot.addWidget(dialog)
    return dialog


def test_a_time_the_clock_showed_twice_is_the_one_chosen_and_never_the_next_day(qtbot: Any) -> None:
    with time_zone("America/New_York"):
        dialog = _dialog(qtbot, {}, now=START + 2 * HOUR)  # until 07:40Z: 02:40 EST
        dialog.ready.setTime(QTime(1, 20))
        # 01:20 EDT was before the session: the clock showed 01:20 once in it, as 01:20 EST.
        assert not dialog.which.isVisible()
        assert dialog.values()["ready_to_leave_at"] == START + 40 * 60  # 01:20 EST, 06:20Z
        dialog.ready.setTime(QTime(1, 50))  # after the start in both hours: 01:50 EDT and 01:50 EST
        assert dialog.which.isVisibleTo(dialog)
        assert [dialog.which.itemText(i) for i in range(dialog.which.count())] == ["01:50 EDT", "01:50 EST"]
        assert dialog.values()["ready_to_leave_at"] == START + 10 * 60
        dialog.which.setCurrentIndex(1)
        assert dialog.values()["ready_to_leave_at"] == START + 10 * 60 + HOUR


def test_an_answer_opened_again_and_saved_stays_the_moment_it_was(qtbot: Any) -> None:
    answered = START + 50 * 60  # 06:30Z: 01:30 EST
    with time_zone("America/New_York"):
        dialog = _dialog(qtbot, {"ready_to_leave_at": answered}, now=START + 2 * HOUR)
        assert dialog.ready.time() == QTime(1, 30)
        dialog.site.setText("Harbour Clinic")
        assert dialog.values()["ready_to_leave_at"] == answered


def test_a_ready_time_the_session_never_saw_is_refused_with_the_span(qtbot: Any) -> None:
    protocol = load_protocol("esketamine-nasal")
    session = Session("s1", START)
    session.now = START + 2 * HOUR
    sprayed = [SessionEvent(START + 10 * 60, EventKind.INFUSION_STARTED, Phase.INFUSION, "RN", {})]
    with time_zone("America/New_York"):
        for wrong in (0.0, START + 5 * 60, START + 10 * 86_400.0):
            with pytest.raises(rems.RemsAnswerError, match=r"is not between the first spray \(2026-11-01 01:50 EDT\)"
                                                            r" and now \(2026-11-01 02:40 EST\)"):
                chair.entry("rems_answers", {"answers": {"ready_to_leave_at": wrong}}, protocol, session, sprayed)
        taken = chair.entry("rems_answers", {"answers": {"ready_to_leave_at": START + HOUR}}, protocol, session,
                            sprayed)
        assert taken.detail["answers"]["ready_to_leave_at"] == START + HOUR
