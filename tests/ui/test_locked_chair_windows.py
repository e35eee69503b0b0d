"""A chair left signed in: what someone who walks up to the locked screen can still reach."""

from __future__ import annotations

from typing import Any

WAIT_MS = 20_000


def test_the_idle_lock_also_locks_the_session_browser_opened_from_the_chair(qtbot: Any, make_window: Any) -> None:
    window = make_window(speed=60.0, patient="MRN-7007", first_status=True)
    window.sessions_button.click()
    browser = window.browser
    assert browser is not None and browser.isVisible()
    browser.table.cellDoubleClicked.emit(0, 0)  # the session's review, with its exports
    reviews = list(browser.reviews)
    assert reviews and reviews[0].isVisible()
    window.idle_lock.set_idle_ms(200)
    qtbot.waitUntil(lambda: window.locked, timeout=WAIT_MS)
    # The screen is locked: "everything else is disabled until someone signs in". The browser lists every
    # patient by MRN and opens review and identified exports as the nurse who opened it.
    assert not (browser.isVisible() and browser.isEnabled()), (
        f"the locked chair leaves the session browser open and usable, listing "
        f"{[f.summary.patient for f in browser.table.found]} as {browser.user.label}"
    )
    assert not any(w.isVisible() for w in reviews), "a review window stays open at the locked chair"


def test_the_lock_also_closes_a_course_opened_from_a_review(qtbot: Any, make_window: Any) -> None:
    window = make_window(speed=60.0, patient="MRN-7008", first_status=True)
    window.sessions_button.click()
    browser = window.browser
    browser.table.cellDoubleClicked.emit(0, 0)
    review = browser.reviews[0]
    course = review.open_course()  # the patient's every session, by MRN
    assert course is not None and course.isVisible()
    window.set_locked(True)
    assert not review.isVisible()
    assert not course.isVisible(), "the patient's course stays open at the locked chair"
