"""The session browser, review window and course view reading the clinic's server (a real PostgreSQL).

Two chairs record a session each for the same patient and replicate them; a reviewer elsewhere opens
the browser on the server and sees both, opens the review and the course, and exports. Whatever
writes (closing a session, an addendum) is refused with a message: the server is read-only here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from monitor import review_arrays
from monitor.app.stores import RecordSource
from monitor.course import load_course
from monitor.replication.server_store import ServerStore
from monitor.store import Store
from tests.conftest import Clinic
from tests.monitor.replication.shipping import patient_at_two_chairs, replicate
from ui.course_window import CourseWindow
from ui.dialogs import SignedInUser
from ui.review_window import ReviewWindow
from ui.session_browser import SessionBrowser

REVIEWER = SignedInUser("Dr Reviewer", "physician")


def _two_chairs(clinic: Clinic, tmp_path: Path) -> tuple[Path, Path, str, str]:
    return patient_at_two_chairs(tmp_path, clinic.role("chair"), "MRN-204", (11, 12))


def test_the_windows_show_a_patients_sessions_from_every_chair_read_only(
    qtbot: Any, clinic: Clinic, tmp_path: Path
) -> None:
    chair_a, chair_b, first, second = _two_chairs(clinic, tmp_path)
    reviewer_db = tmp_path / "office.db"
    source = RecordSource(reviewer_db, clinic.role("reader"))

    browser = SessionBrowser(source, REVIEWER)
    qtbot.addWidget(browser)
    assert {entry.summary.id for entry in browser.table.found} == {first, second}
    assert "clinic server" in browser.summary.text() and "read-only" in browser.summary.text()
    assert "password" not in browser.summary.text()
    assert not browser.can_resume
    # Closing writes: refused with a message, nothing changes on the server.
    assert browser.table.select(first)
    assert not browser.close_button.isEnabled()
    assert not browser.close_session(first)
    assert "read-only" in browser.messages[-1]

    window = browser.open_review(second)
    assert isinstance(window, ReviewWindow)
    qtbot.addWidget(window)
    assert window.record is not None and window.record.id == second
    with Store(chair_b, readonly=True) as local:
        assert window.record.events == tuple(local.events(second))
        assert len(window.record.alarms) == len(local.alarms(second))
    local_window = ReviewWindow(chair_b, second, REVIEWER)
    qtbot.addWidget(local_window)
    assert window.statistics_cells() == local_window.statistics_cells() != []
    local_window.close()
    assert not window.addendum_button.isEnabled()
    assert window.write_addendum("after the fact") is None
    assert "read-only" in window.messages[-1]

    # An export of a server session is written here and audited in this computer's database.
    target = tmp_path / "second.json"
    window.choose_export_path = lambda fmt, suggested: str(target)
    with qtbot.waitSignal(window.export_finished, timeout=20_000) as done:
        window.export("json")
    assert done.args[2] == ""
    assert json.loads(target.read_text())["session"]["id"] == second
    with Store(reviewer_db, readonly=True) as office:
        [entry] = [row for row in office.audit_log() if row["action"] == "export"]
    server = json.loads(entry["detail"])["server"]
    assert clinic.database in server and "passfile" not in server

    # The course spans both chairs, though each chair registered the patient under its own key.
    course = window.open_course()
    assert isinstance(course, CourseWindow)
    qtbot.addWidget(course)
    assert course.course is not None
    assert [row.session_id for row in course.course.rows] == [first, second]
    assert "MRN-204" in course.header.text()
    with Store(chair_a, readonly=True) as local:
        [alone] = load_course(local, local.session_row(first)["patient_id"]).rows
    assert course.course.rows[0] == alone  # the server's figures are the chair's own
    for w in (course, window, browser):
        w.close()

    # The review front end started with --server: resuming a session there is refused, not attempted.
    from ui.review_app import ReviewApp

    app = ReviewApp(source, REVIEWER)
    shown = app.open_browser()
    qtbot.addWidget(shown)
    app.resume(first)
    assert app.live == [] and "read-only" in shown.messages[-1]
    app.shutdown()


def test_the_server_answers_the_reviews_bulk_questions_like_the_chair(clinic: Clinic, tmp_path: Path) -> None:
    db = tmp_path / "chair.db"
    from monitor.alarms.engine import AlarmEngine
    from tests.conftest import record_simulated

    session_id = record_simulated(db, seed=5, pleth=True, scenario="probe_off", alarms=AlarmEngine(),
                                  plan="baseline:2,infusion:12,recovery:2")
    replicate(db, clinic.role("chair"))
    with Store(db, readonly=True) as local, ServerStore(clinic.role("reader")) as server:
        assert server.alarm_counts() == local.alarm_counts() != {}
        assert server.reading_rows(session_id) == [tuple(r) for r in local.reading_rows(session_id)]
        assert review_arrays.has_waveform(server, session_id) and review_arrays.has_waveform(local, session_id)
        for window in ((None, None), (1_790_000_100.0, 1_790_000_160.0)):
            mine = review_arrays.waveform_arrays(local, session_id, start=window[0], end=window[1])
            theirs = review_arrays.waveform_arrays(server, session_id, start=window[0], end=window[1])
            assert len(mine[0]) > 0
            np.testing.assert_array_equal(mine[0], theirs[0])
            np.testing.assert_array_equal(mine[1], theirs[1])
