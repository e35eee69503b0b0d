"""Every window the live window opens echoes the chair's alarms, and takes the nurse back to them.

Found at 1280×800: the session browser, the review window and the course window stand over the live window and
cover its alarm bar. An alarm that started while the nurse read or typed in one of them was heard, but nothing in
the window she looked at said which alarm it was, and no key led back to the alarm bar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import SIGNAL, QPoint, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QWidget

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmSnapshot, Priority
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.store import Store
from tests.ui.test_screen_sizes import T0, _snapshot
from ui import theme
from ui.alarm_bar import alarm_line

QUIET = AlarmSnapshot((), None, False, False, None)
LINK_LOST = AlarmRecord("t1", "link_lost", None, Priority.HIGH, AlarmKind.TECHNICAL,
                        "DEVICE LINK LOST - no values from the monitor", T0)


@pytest.fixture
def chair(qtbot: Any, db_path: Path) -> Iterator[Any]:
    """A nurse's live window at 1280×800 on a session of an identified patient, fed by hand (the recorder does not
    run), with its session browser open."""
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    store = Store(db_path)
    recorder = Recorder.new_session(
        store, SimulatedSource(scenario="normal", seed=3, speed=60.0), driver="simulated", port=None,
        plan=SessionPlan(1, 40, 30), nurse="AB", alarms=AlarmEngine(), protocol=load_protocol("ketamine-iv"),
        patient_id=store.create_patient("MRN-4711"))
    window = LiveWindow(RecorderBridge(recorder), SignedInUser("AB", "nurse"), sound=False)
    # The recorder does not run here: the window's watchdog would call that a stall after a few seconds (on a busy
    # machine, within a test) and its alarm would come first in every echo.
    window._watch_timer.stop()
    qtbot.addWidget(window)
    window.show()
    window.move(0, 0)
    window.resize(1280, 800)
    window.open_sessions()
    yield window
    window.force_close()
    store.close()


def _alarms(window: Any, snapshot: AlarmSnapshot) -> None:
    window.show_alarms(snapshot, T0 + 60)
    QApplication.processEvents()


def _opened(window: Any) -> dict[str, QWidget]:
    """The browser, a review of the chair's session, and the patient's course from the browser and the review."""
    browser = window.browser
    review = browser.open_review(window.bridge.recorder.session.id)
    return {"browser": browser, "review": review, "course": browser.open_course(),
            "review's course": review.open_course()}


def test_an_alarm_at_the_chair_is_echoed_at_the_top_of_every_window_opened_from_it(chair: Any) -> None:
    windows = _opened(chair)
    assert all(w.alarm_echo is not None and not w.alarm_echo.isVisible() for w in windows.values())

    _alarms(chair, _snapshot(3))

    top = _snapshot(3).active[0]
    for name, w in windows.items():
        echo = w.alarm_echo
        assert echo.isVisible(), name
        assert echo.text() == f"{alarm_line(top)}   +2 more", name
        assert echo.text().startswith("*** SpO2 84 %")
        assert theme.ALARM_COLOURS[Priority.HIGH] in echo.styleSheet()
        assert echo.mapTo(w, QPoint(0, 0)).y() < 20, f"{name}: the echo is not at the window's top"
        assert "F9" in echo.toolTip() and "F9" in echo.accessibleName()

    # What the bar shows: an alarm ended by the engine leaves every echo with its snapshot.
    _alarms(chair, QUIET)
    assert not any(w.alarm_echo.isVisible() for w in windows.values())
    assert not chair.alarm_bar.rows[0].isVisible()


def test_a_technical_alarm_is_echoed_in_its_own_priority_colour(chair: Any) -> None:
    browser = chair.browser
    _alarms(chair, AlarmSnapshot((dataclasses.replace(LINK_LOST, priority=Priority.MEDIUM),), None, False, False,
                                 Priority.MEDIUM))
    assert browser.alarm_echo.text().startswith("** DEVICE LINK LOST - no values from the monitor · since ")
    assert "+" not in browser.alarm_echo.text()
    assert theme.ALARM_COLOURS[Priority.MEDIUM] in browser.alarm_echo.styleSheet()
    assert browser.alarm_echo.accessibleName().startswith("medium priority alarm at the chair: ** DEVICE LINK LOST")


def _front(qtbot: Any, window: QWidget) -> None:
    window.raise_()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)


def test_a_click_on_the_echo_brings_the_live_window_forward(chair: Any, qtbot: Any) -> None:
    review = _opened(chair)["review"]
    _alarms(chair, _snapshot(1))
    _front(qtbot, review)
    assert not chair.isActiveWindow()
    with qtbot.waitSignal(chair.alarm_feed.forward_requested, timeout=5000):
        qtbot.mouseClick(review.alarm_echo, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(chair.isActiveWindow, timeout=5000)


@pytest.mark.parametrize("name", ["browser", "review", "course"])
def test_f9_in_any_window_opened_from_the_chair_brings_the_live_window_forward(chair: Any, qtbot: Any,
                                                                                name: str) -> None:
    window = _opened(chair)[name]
    _alarms(chair, _snapshot(2))
    _front(qtbot, window)
    focus = window.focusWidget() or window
    with qtbot.waitSignal(chair.alarm_feed.forward_requested, timeout=5000):
        qtbot.keyClick(focus, Qt.Key.Key_F9)
    qtbot.waitUntil(chair.isActiveWindow, timeout=5000)


def test_f9_is_no_other_shortcut_of_these_windows_nor_of_the_live_window(chair: Any) -> None:
    f9 = QKeySequence("F9")
    windows = [chair, *_opened(chair).values()]
    taken = [(type(w).__name__, s.key().toString()) for w in windows for s in w.findChildren(QShortcut)]
    assert taken.count(("LiveWindow", "F9")) == 0
    for w in windows[1:]:
        assert [s for s in w.findChildren(QShortcut) if s.key() == f9 and s.parent() is w] != []
    assert len([t for t in taken if t[1] == "F9"]) == len(windows) - 1  # one each, in the opened windows only


def _listeners(feed: Any) -> int:
    """How many connections the feed's snapshots go to."""
    return int(feed.receivers(SIGNAL("changed(PyObject)")))


def test_a_closed_window_lets_go_of_the_feed_and_a_window_shown_again_shows_only_what_is_current(
        chair: Any, qtbot: Any) -> None:
    feed = chair.alarm_feed
    windows = _opened(chair)
    review = windows["review"]
    _alarms(chair, _snapshot(2))
    assert _listeners(feed) == 4

    # Deleted while shown (the course the review opened): Qt drops its connection; the next snapshot reaches the
    # others without an error.
    course = review.course_window
    assert course.isVisible()
    review.course_window = None
    course.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(course), timeout=5000)
    assert _listeners(feed) == 3
    _alarms(chair, _snapshot(1))
    assert windows["browser"].alarm_echo.text() == alarm_line(_snapshot(1).active[0])

    # Closed: it no longer listens, and a snapshot after it makes no error nor Qt warning (the test fails on either).
    review.close()
    assert not review.alarm_echo.listening()
    assert _listeners(feed) == 2
    _alarms(chair, _snapshot(3))
    assert review.alarm_echo.text() == alarm_line(_snapshot(1).active[0])
    assert windows["browser"].alarm_echo.text() == f"{alarm_line(_snapshot(3).active[0])}   +2 more"

    # The browser closed under an alarm that then ended, opened again: no alarm on it.
    chair.browser.close()
    _alarms(chair, QUIET)
    _alarms(chair, _snapshot(1))
    _alarms(chair, QUIET)
    browser = chair.open_sessions()
    assert browser.alarm_echo.listening()
    assert not browser.alarm_echo.isVisible()
    assert feed.snapshot is QUIET


def test_an_alarm_that_starts_moves_nothing_in_the_window_under_the_nurse(chair: Any) -> None:
    review = _opened(chair)["review"]
    button = review.addendum_button
    before = button.mapTo(review, QPoint(0, 0))
    _alarms(chair, _snapshot(1))
    assert review.alarm_echo.isVisible()
    assert button.mapTo(review, QPoint(0, 0)) == before


def test_a_review_opened_without_a_live_window_has_no_echo(qtbot: Any, db_path: Path) -> None:
    from ui.dialogs import SignedInUser
    from ui.session_browser import SessionBrowser

    Store(db_path).close()
    browser = SessionBrowser(db_path, SignedInUser("Dr", "physician"))
    qtbot.addWidget(browser)
    assert browser.alarm_echo is None
    assert not [s for s in browser.findChildren(QShortcut) if s.key() == QKeySequence("F9")]


def test_monitoring_stopped_at_the_chair_is_echoed_first_in_high_priority_colour(chair: Any, monkeypatch: Any) -> None:
    """The live window's own watchdog alarm is in no engine snapshot (the engine may be what stopped): the windows
    over it must still say it, before any engine alarm, and let go of it when the watchdog does."""
    monkeypatch.setattr(chair.watchdog, "check", lambda: [])  # no stall of the recorder, which does not run here
    browser = chair.browser
    _alarms(chair, AlarmSnapshot((dataclasses.replace(LINK_LOST, priority=Priority.LOW),), None, False, False, None))
    chair.end_error = "error: the store is gone"
    chair._watch()
    QApplication.processEvents()
    text = browser.alarm_echo.text()
    assert text.startswith("MONITORING STOPPED: the recording ended on an error: the store is gone"), text
    assert text.endswith("   +1 more"), text
    assert theme.ALARM_COLOURS[Priority.HIGH] in browser.alarm_echo.styleSheet()
    assert browser.alarm_echo.accessibleName().startswith("high priority alarm at the chair: MONITORING STOPPED")
    assert "* DEVICE LINK LOST" in browser.alarm_echo.toolTip()

    chair.end_error = None
    chair._watch()
    QApplication.processEvents()
    assert browser.alarm_echo.text().startswith("* DEVICE LINK LOST"), browser.alarm_echo.text()
    assert theme.ALARM_COLOURS[Priority.LOW] in browser.alarm_echo.styleSheet()
