"""The guard's judgement, table-driven: lines at times in, the verdict at a moment out."""

from __future__ import annotations

import pytest

from monitor.alarms.model import Priority
from monitor.guard import Guard, GuardState

T0 = 100.0


# what the program sent (time, line; None: the pipe closed), when the guard looks, state, seconds silent
TABLE = [
    ([], T0 + 5, GuardState.STARTING, 5.0),
    ([], T0 + 31, GuardState.NOT_RESPONDING, 31.0),  # never heard from within the 30 s start grace
    ([(T0 + 1, "beat")], T0 + 3.9, GuardState.WATCHING, 2.9),
    ([(T0 + 1, "beat")], T0 + 4.0, GuardState.WATCHING, 3.0),  # the limit itself is still fine
    ([(T0 + 1, "beat")], T0 + 4.1, GuardState.NOT_RESPONDING, 3.1),
    ([(T0 + 1, "beat"), (T0 + 9, "beat\n")], T0 + 9.2, GuardState.WATCHING, 0.2),  # back again
    ([(T0 + 1, "chair Chair 3")], T0 + 25, GuardState.STARTING, 25.0),  # a name is no beat
    ([(T0 + 1, "beat"), (T0 + 2, "chair Chair 3")], T0 + 4.5, GuardState.NOT_RESPONDING, 3.5),
    ([(T0 + 1, "beat"), (T0 + 2, "garbage")], T0 + 4.5, GuardState.NOT_RESPONDING, 3.5),  # nor an unknown line
    ([(T0 + 1, "beat"), (T0 + 2, None)], T0 + 2.1, GuardState.ENDED, 1.0),  # closed without a goodbye
    ([(T0 + 1, "beat"), (T0 + 2, None)], T0 + 500, GuardState.ENDED, 1.0),  # stays ended; silence counted to the end
    ([(T0 + 1, "beat"), (T0 + 2, "bye"), (T0 + 2.1, None)], T0 + 60, GuardState.DONE, 0.1),
    ([(T0 + 1, "bye")], T0 + 60, GuardState.DONE, 59.0),
    # The window off screen: a glance elsewhere is fine for a minute; with an alarm it cannot show, 5 s.
    ([(T0 + 1, "hidden")], T0 + 3, GuardState.WATCHING, 2.0),
    ([(T0 + 1, "hidden"), (T0 + 30, "hidden"), (T0 + 61, "hidden")], T0 + 61.0, GuardState.WATCHING, 0.0),
    ([(T0 + 1, "hidden"), (T0 + 30, "hidden"), (T0 + 61, "hidden")], T0 + 61.5, GuardState.HIDDEN, 0.5),
    ([(T0 + 1, "hidden"), (T0 + 30, "hidden"), (T0 + 61, "beat")], T0 + 61.5, GuardState.WATCHING, 0.5),  # back
    ([(T0 + 1, "beat"), (T0 + 2, "hidden alarm"), (T0 + 4, "hidden alarm")], T0 + 6.9, GuardState.WATCHING, 2.9),
    ([(T0 + 1, "hidden alarm"), (T0 + 4, "hidden alarm"), (T0 + 6.1, "hidden alarm")], T0 + 6.2,
     GuardState.HIDDEN, 0.1),
    ([(T0 + 1, "hidden"), (T0 + 3, "hidden alarm"), (T0 + 5, "hidden alarm")], T0 + 6.2, GuardState.HIDDEN, 1.2),
    ([(T0 + 1, "hidden alarm"), (T0 + 3, "hidden"), (T0 + 5, "hidden")], T0 + 6.2, GuardState.WATCHING, 1.2),
    ([(T0 + 1, "hidden alarm"), (T0 + 3, "hidden alarm")], T0 + 6.2, GuardState.NOT_RESPONDING, 3.2),  # silence first
    ([(T0 + 1, "hidden alarm"), (T0 + 6.1, None)], T0 + 6.2, GuardState.ENDED, 5.1),
]


@pytest.mark.parametrize(("heard", "at", "state", "silent_s"), TABLE)
def test_the_verdict(heard, at, state, silent_s) -> None:
    guard = Guard(T0)
    for t, line in heard:
        if line is None:
            guard.closed(t)
        else:
            guard.heard(line, t)
    view = guard.view(at)
    assert view.state is state
    assert view.silent_s == pytest.approx(silent_s)
    assert view.alarming is (state in (GuardState.NOT_RESPONDING, GuardState.ENDED, GuardState.HIDDEN))
    assert view.priority is {GuardState.NOT_RESPONDING: Priority.HIGH, GuardState.ENDED: Priority.HIGH,
                             GuardState.HIDDEN: Priority.MEDIUM}.get(state)
    assert bool(view.text) is view.alarming


@pytest.mark.parametrize(("first", "text"), [
    ("chair Chair 3", "MONITOR WINDOW NOT ON SCREEN at Chair 3 for 61 s: its values and alarms cannot be seen - "
                      "bring the window back (if it cannot be, close the monitor and start it again: the session "
                      "can be resumed)"),
    ("station", "NURSE STATION WINDOW NOT ON SCREEN for 61 s: the chairs' values and alarms cannot be seen here - "
                "bring the window back, or watch the chairs' own screens"),
])
def test_the_window_off_screen_is_named(first: str, text: str) -> None:
    guard = Guard(T0)
    guard.heard(first, T0)
    for t in range(1, 63):
        guard.heard("hidden", T0 + t)
    assert guard.view(T0 + 62.4).text == text


# the program's first line, the two alarm texts it gives (not responding 7 s after it, then ended)
NAMES_TABLE = [
    ("chair   Chair 3 (window)  ",
     "MONITOR NOT RESPONDING at Chair 3 (window): its screen has not updated for 7 s - values on it are not "
     "current; watch the patient directly",
     "MONITOR PROGRAM STOPPED at Chair 3 (window): recording and alarms have ended - watch the patient directly "
     "and start the monitor again (the session can be resumed)"),
    ("station",
     "NURSE STATION NOT RESPONDING: its screen has not updated for 7 s - the chairs' values and alarms on it "
     "are not current; watch the chairs' own screens",
     "NURSE STATION STOPPED: the chairs' alarms are no longer shown here - watch the chairs' own screens and "
     "start the station again"),
    # `record` in a terminal: the command to resume gives the session's id (it said SESSION_ID, a placeholder).
    ("recorder 1a2b3c4d",
     "RECORDING NOT RESPONDING (session 1a2b3c4d): no news from it for 7 s - its values are not current and it "
     "raises no alarms; watch the patient directly",
     "RECORDING STOPPED (session 1a2b3c4d): the program ended without closing its session - recording and alarms "
     "have ended; watch the patient directly and resume the session (infusion-monitor record --resume 1a2b3c4d)"),
    ("recorder",
     "RECORDING NOT RESPONDING: no news from it for 7 s - its values are not current and it raises no alarms; "
     "watch the patient directly",
     "RECORDING STOPPED: the program ended without closing its session - recording and alarms have ended; watch "
     "the patient directly and resume the session (infusion-monitor record --resume with its id, which "
     "`infusion-monitor sessions` lists)"),
]


@pytest.mark.parametrize(("first", "not_responding", "ended"), NAMES_TABLE)
def test_the_alarm_names_the_program_and_says_what_to_do(first, not_responding, ended) -> None:
    guard = Guard(T0)
    guard.heard(first, T0 + 0.5)
    guard.heard("beat", T0 + 1)
    guard.heard("hello", T0 + 1.5)
    assert guard.unknown_lines == 1
    assert guard.view(T0 + 8).text == not_responding
    guard.closed(T0 + 9)
    assert guard.view(T0 + 10).text == ended
