"""The guard: a second process that alarms when the window program stops answering or ends unannounced.

In the guard's own window (in this process, driven through its pipe), in the real guard process
(standard output, signals, exit), and beside a real live window whose thread is held.
"""

from __future__ import annotations

import io
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from monitor.alarms.model import Priority
from monitor.session import EventKind
from monitor.store import Store
from tests.faults.helpers import REPO_ROOT

WAIT_MS = 10_000
#: The guard's limit in the tests of its window: 5 s, so that a loaded machine holding this process for a second
#: or two does not make an alarm the test did not ask for (2 s did, now and then).
LIMIT_S = 5.0


class Pipe:
    """The program's end of the guard's pipe."""

    def __init__(self) -> None:
        read, self.fd = os.pipe()
        self.reading: BinaryIO = os.fdopen(read, "rb")

    def send(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def test_the_guard_window_alarms_pauses_clears_and_latches(qtbot: Any) -> None:
    from ui.guard_app import GuardApp

    pipe = Pipe()
    quits: list[bool] = []
    out = io.StringIO()
    app = GuardApp(pipe.reading, out, limit_s=LIMIT_S, on_quit=lambda: quits.append(True))
    qtbot.addWidget(app.window)
    try:
        _alarms_pauses_clears_and_latches(qtbot, pipe, app, quits, out)
    finally:  # the guard's reader ends with its pipe, whatever failed
        pipe.close()
        deadline = time.monotonic() + 5
        while any(t.name == "guard-reader" for t in threading.enumerate()) and time.monotonic() < deadline:
            time.sleep(0.01)
        pipe.reading.close()


def _alarms_pauses_clears_and_latches(qtbot: Any, pipe: Pipe, app: Any, quits: list[bool], out: io.StringIO) -> None:
    from monitor.guard import GuardState

    app.start()
    pipe.send("chair Chair 3")
    # Beating: no alarm. (A beat is judged at the next tick; should this process be held for longer than the
    # limit before that tick, the guard is right to alarm, and the next beat clears it: beat until one is judged.)
    def watching() -> bool:
        pipe.send("beat")
        qtbot.wait(100)
        return app.state is GuardState.WATCHING
    qtbot.waitUntil(watching, timeout=WAIT_MS)
    assert not app.window.isVisible() and app.sound.sounding is None
    # Silent for more than its limit: the red window, on top, and the high-priority sound.
    qtbot.waitUntil(app.window.isVisible, timeout=WAIT_MS)
    assert app.window.text.text().startswith("MONITOR NOT RESPONDING at Chair 3: its screen has not updated for ")
    assert app.window.button.text() == "Silence 2 min" and app.sound.sounding is Priority.HIGH
    # This machine has no audio device: the window says its alarm is silent.
    assert app.window.no_sound.isVisibleTo(app.window) is (not app.sound.available)
    if not app.sound.available:
        assert app.window.no_sound.text().startswith("NO SOUND from this alarm: ")
    flashes = {app.window.lit}
    qtbot.waitUntil(lambda: len(flashes | {app.window.lit}) == 2, timeout=WAIT_MS)
    app.window.button.click()  # sound paused, the alarm still shown
    app.tick()
    assert app.sound.sounding is None and app.window.isVisible()
    pipe.send("beat")  # back: the alarm goes
    qtbot.waitUntil(lambda: not app.window.isVisible(), timeout=WAIT_MS)
    assert app.silenced_until == 0.0
    # The pipe closes without a goodbye: the program is gone; the pause does not carry over.
    pipe.close()
    qtbot.waitUntil(app.window.isVisible, timeout=WAIT_MS)
    assert app.window.text.text().startswith("MONITOR PROGRAM STOPPED at Chair 3: recording and alarms have ended")
    assert app.window.button.text() == "Acknowledge and close" and app.sound.sounding is Priority.HIGH
    qtbot.wait(500)
    assert not quits and app.window.isVisible(), "the alarm lasts until a person acknowledges it"
    app.window.button.click()
    assert quits == [True] and not app.window.isVisible() and app.sound.sounding is None
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == [
        "guard", "\a  ALARM HIGH technical", "guard", "guard", "\a  ALARM HIGH technical", "guard"]
    assert out.getvalue().splitlines()[-1] == "guard: alarm acknowledged"


def test_a_guard_whose_window_is_gone_ticks_no_more(qtbot: Any) -> None:
    """The guard's clock belongs to its window: once the window is deleted, no tick reaches it (each would raise
    in the event loop, which fails this test)."""
    import shiboken6

    from ui.guard_app import TICK_MS, GuardApp

    pipe = Pipe()
    app = GuardApp(pipe.reading, io.StringIO(), limit_s=0.2, on_quit=lambda: None)
    app.start()
    pipe.send("chair Chair 3")
    window = app.window
    window.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(window), timeout=WAIT_MS)
    qtbot.wait(4 * TICK_MS)
    pipe.close()
    pipe.reading.close()


def test_the_guard_shows_a_window_kept_off_screen_at_medium_priority(qtbot: Any, monkeypatch: Any) -> None:
    from monitor import guard as guard_module
    from ui import theme
    from ui.guard_app import GuardApp

    monkeypatch.setattr(guard_module, "HIDDEN_ALARM_LIMIT_S", 0.5)
    pipe = Pipe()
    out = io.StringIO()
    app = GuardApp(pipe.reading, out, limit_s=2.0, on_quit=lambda: None)
    qtbot.addWidget(app.window)
    app.start()
    pipe.send("chair Chair 3")
    for _ in range(4):  # the window runs, but is off screen with an alarm to show
        pipe.send("hidden alarm")
        qtbot.wait(250)
    qtbot.waitUntil(app.window.isVisible, timeout=WAIT_MS)
    assert app.window.text.text().startswith("MONITOR WINDOW NOT ON SCREEN at Chair 3 for ")
    assert app.sound.sounding is Priority.MEDIUM and app.window.priority is Priority.MEDIUM
    assert theme.ALARM_COLOURS[Priority.MEDIUM] in app.window.styleSheet() or not app.window.lit
    app.window.button.click()  # "Silence 2 min" pauses its sound too
    app.tick()
    assert app.sound.sounding is None and app.window.isVisible()
    pipe.send("beat")  # on screen again: the alarm goes
    qtbot.waitUntil(lambda: not app.window.isVisible(), timeout=WAIT_MS)
    assert out.getvalue().splitlines()[1:] == [
        out.getvalue().splitlines()[1], "guard: sound paused for 120 s", "guard: the window is on screen again"]
    assert out.getvalue().splitlines()[1].startswith("\a  ALARM MEDIUM technical: MONITOR WINDOW NOT ON SCREEN")
    pipe.close()
    pipe.reading.close()


class GuardProcess:
    """The real guard program, its standard output read line by line with a deadline."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ui.guard_app"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=REPO_ROOT, start_new_session=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin = self.process.stdin
        self.stdout = self.process.stdout
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.stdout, selectors.EVENT_READ)

    def send(self, line: str) -> None:
        self.stdin.write(line + "\n")
        self.stdin.flush()

    def line(self, timeout_s: float = 20.0) -> str:
        if not self.selector.select(timeout_s):
            raise AssertionError(f"no line from the guard within {timeout_s:g} s")
        return self.stdout.readline().rstrip("\n")

    def beat_for(self, seconds: float) -> float:
        """Beat four times a second; the time of the last beat."""
        end = time.monotonic() + seconds
        while True:
            self.send("beat")
            last = time.monotonic()
            if last >= end:
                return last
            time.sleep(0.25)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.selector.close()
        self.stdout.close()
        if not self.stdin.closed:
            self.stdin.close()


@pytest.fixture
def guard_process() -> Iterator[GuardProcess]:
    guard = GuardProcess()
    yield guard
    guard.close()


def test_the_guard_process_alarms_in_3_s_ignores_the_terminal_and_ends_on_sigterm(guard_process: Any) -> None:
    guard = guard_process
    guard.send("chair Chair 3")
    assert guard.line() == (f"guard: watching the window (pid {guard.process.pid}; alarm after 3 s without news)")
    last = guard.beat_for(1.0)
    guard.process.send_signal(signal.SIGINT)  # the terminal's Ctrl-C is for the program, not for its guard
    guard.process.send_signal(signal.SIGHUP)
    alarm = guard.line()
    waited = time.monotonic() - last
    assert alarm == ("\a  ALARM HIGH technical: MONITOR NOT RESPONDING at Chair 3: its screen has not updated for "
                     "3 s - values on it are not current; watch the patient directly")
    assert 3.0 <= waited < 4.5, waited
    guard.beat_for(0.3)
    assert guard.line() == "guard: the window is responding again"
    guard.stdin.close()  # the program is gone
    assert guard.line() == ("\a  ALARM HIGH technical: MONITOR PROGRAM STOPPED at Chair 3: recording and alarms have "
                            "ended - watch the patient directly and start the monitor again (the session can be "
                            "resumed)")
    time.sleep(1.0)
    assert guard.process.poll() is None, "the alarm stays until acknowledged"
    guard.process.send_signal(signal.SIGTERM)
    assert guard.process.wait(10) == 0


def test_a_goodbye_ends_the_guard_quietly(guard_process: Any) -> None:
    guard = guard_process
    assert guard.line().startswith("guard: watching the window")
    guard.beat_for(0.5)
    guard.send("bye")
    assert guard.line() == "guard: the program ended normally"
    assert guard.process.wait(10) == 0


def _logged_screen_alarms(db_path: Path, session_id: str) -> list[Any]:
    with Store(db_path, readonly=True) as store:
        return [a for a in store.alarms(session_id) if a.condition == "screen_not_responding"]


def test_a_held_window_thread_is_alarmed_by_the_guard_and_recorded(
    qtbot: Any, make_window: Any, capfd: pytest.CaptureFixture[str], db_path: Path
) -> None:
    from ui.guard_link import GuardLink

    w = make_window(first_status=True)
    guard = GuardLink(chair="Chair 3", restart_after_s=0.5)
    assert guard.start()
    w.set_guard(guard)
    qtbot.waitUntil(lambda: "guard: watching the window" in capfd.readouterr().out, timeout=WAIT_MS)
    qtbot.wait(1000)
    time.sleep(4.5)  # the window's thread does not run: no beats
    qtbot.waitUntil(lambda: "The screen did not respond for" in w.message.text(), timeout=WAIT_MS)
    assert "the values shown are current again" in w.message.text()
    qtbot.waitUntil(lambda: any(e.kind is EventKind.TECHNICAL and e.detail.get("condition") == "screen_not_responding"
                                for e in w.events), timeout=WAIT_MS)
    said: list[str] = []
    # The guard is another process: its word that the window answers again can come a moment after the window's.
    qtbot.waitUntil(lambda: said.append(capfd.readouterr().out) or "guard: the window is responding again"
                    in "".join(said), timeout=WAIT_MS)
    out = "".join(said)
    assert "\a  ALARM HIGH technical: MONITOR NOT RESPONDING at Chair 3" in out
    assert out.index("MONITOR NOT RESPONDING") < out.index("guard: the window is responding again")
    # Meanwhile the recorder, which ran on, raised its own alarm for the log and the station; it has ended.
    session_id = w.bridge.recorder.session.id
    qtbot.waitUntil(lambda: any(a.ended_at is not None for a in _logged_screen_alarms(db_path, session_id)),
                    timeout=WAIT_MS)
    [logged] = _logged_screen_alarms(db_path, session_id)
    assert logged.priority is Priority.HIGH and logged.ended_at > logged.started_at  # session time (60x here)
    # The guard itself is killed: the window says so, records it, and starts another.
    first = guard.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    qtbot.waitUntil(lambda: "Screen guard: the guard process ended unexpectedly (exit status -9); it is started "
                            "again within 0.5 s." in w.messages, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: guard.running and guard.pid != first, timeout=WAIT_MS)
    assert guard.starts == 2
    qtbot.waitUntil(lambda: any(e.kind is EventKind.TECHNICAL and e.detail.get("condition") == "guard_ended"
                                for e in w.events), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "guard: watching the window" in capfd.readouterr().out, timeout=WAIT_MS)
    # Closing the window on purpose says goodbye: no alarm.
    w.force_close()
    assert not guard.running
    out = capfd.readouterr().out
    assert "guard: the program ended normally" in out and "ALARM" not in out


def test_a_recording_that_has_ended_says_goodbye_to_its_guard(
    qtbot: Any, make_window: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from ui.guard_link import GuardLink

    w = make_window(first_status=True)
    guard = GuardLink()
    assert guard.start()
    w.set_guard(guard)
    qtbot.waitUntil(lambda: "guard: watching the window" in capfd.readouterr().out, timeout=WAIT_MS)
    w.on_finished("complete")  # as the recorder reports a completed session; the window stays open
    assert not guard.running and w.isVisible()
    assert "guard: the program ended normally" in capfd.readouterr().out


def _listening_link() -> Any:
    """A guard link to a process that reads and drops its lines; the lines sent are kept in ``lines``."""
    from ui.guard_link import GuardLink

    class Listening(GuardLink):
        def __init__(self) -> None:
            super().__init__(command=(sys.executable, "-c", "import sys; sys.stdin.buffer.read()"))
            self.lines: list[str] = []

        def _send(self, line: str) -> bool:
            self.lines.append(line)
            return super()._send(line)

    link = Listening()
    assert link.start()
    return link


def test_a_window_off_screen_without_an_alarm_tells_its_guard_and_comes_back_after_a_while(
    qtbot: Any, make_window: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("ui.guard_link.BRING_BACK_AFTER_S", 2.0)  # 50 s in use
    w = make_window(first_status=True)  # setup: no alarm
    link = _listening_link()
    w.set_guard(link)
    qtbot.waitUntil(lambda: "beat" in link.lines, timeout=WAIT_MS)
    w.showMinimized()
    qtbot.waitUntil(lambda: link.lines[-3:] == ["hidden"] * 3, timeout=WAIT_MS)
    assert w.isMinimized() and w.guard.brought_back == 0  # a glance at another program is left alone
    qtbot.waitUntil(lambda: not w.isMinimized(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: link.lines[-1] == "beat", timeout=WAIT_MS)
    assert w.guard.brought_back == 1 and w.guard.recreated == 0
    # Its native window destroyed (as from outside; under X, tests/faults/test_window_off_screen.py): back again.
    handle = w.windowHandle()
    assert handle is not None
    handle.destroy()
    qtbot.waitUntil(lambda: link.lines[-1] == "hidden", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: link.lines[-1] == "beat", timeout=WAIT_MS)
    assert w.guard.brought_back == 2 and w.guard.on_screen()
    w.force_close()


def test_a_window_off_screen_comes_back_for_an_alarm(qtbot: Any, make_window: Any) -> None:
    w = make_window(scenario="probe_off", plan="baseline:1,infusion:40,recovery:30", first_status=True)
    link = _listening_link()
    w.set_guard(link)
    qtbot.waitUntil(w._has_alarm_to_show, timeout=40_000)  # the probe comes off at infusion minute 10
    w.showMinimized()
    qtbot.waitUntil(lambda: w.guard.brought_back >= 1 and not w.isMinimized(), timeout=WAIT_MS)
    assert "hidden alarm" in link.lines
    qtbot.waitUntil(lambda: link.lines[-1] == "beat", timeout=WAIT_MS)
    assert w.guard.on_screen()
    w.force_close()


def _ended(link: Any) -> None:
    """Wait for the guard process to end by itself."""
    deadline = time.monotonic() + 20
    while link.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not link.running


def test_a_guard_that_keeps_ending_is_started_again_ever_less_often() -> None:
    """Guards that end at once wait 10, 20, 40 ... 300 s before the next start; one that ran a minute, 10 s again."""
    from ui.guard_link import GuardLink

    clock = [0.0]
    at_once = (sys.executable, "-c", "raise SystemExit(3)")
    link = GuardLink(command=at_once, monotonic=lambda: clock[0])
    assert link.start()
    waits = []
    for _ in range(7):
        _ended(link)
        news = link.beat()
        assert news is not None and news.startswith("the guard process ended unexpectedly (exit status 3)")
        waits.append(link.restart_wait_s)
        assert news.endswith(f"it is started again within {link.restart_wait_s:g} s")
        starts = link.starts
        clock[0] += link.restart_wait_s - 0.1
        assert link.beat() is None and link.starts == starts  # not yet
        clock[0] += 0.1
        assert link.beat() is None and link.starts == starts + 1
    assert waits == [10, 20, 40, 80, 160, 300, 300]
    # A guard that runs a minute was fine: after it, the usual wait.
    _ended(link)
    link.command = (sys.executable, "-c", "import time; time.sleep(60)")
    link.beat()
    clock[0] += 300
    link.beat()
    assert link.running
    clock[0] += 61
    assert link.pid is not None
    os.kill(link.pid, signal.SIGKILL)
    _ended(link)
    news = link.beat()
    assert news is not None and news.endswith("it is started again within 10 s")
    link.bye(wait_s=0.0)
