"""The window program's side of the guard: starts the guard process and tells it, every tick, that it runs.

:class:`GuardLink` owns the process and the pipe; the lines go down a pipe that never blocks the window (a
guard too busy to read loses a beat, not the screen). A guard that has ended is started again (at most every
:data:`RESTART_AFTER_S`). :class:`GuardBeat` beats it from the window's event loop and tells the window of a
spell in which that loop did not run (the guard alarmed meanwhile) and of a guard that had ended, so the
window can say so and keep a record. Each beat says whether the window is on screen; one that is not is
brought back at once while it has an alarm to show, else after :data:`~monitor.guard.BRING_BACK_AFTER_S`: restored
when minimised, given a new native window when that did not do (one destroyed from outside). The guard alarms if
it stays off screen all the same.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QWidget

from monitor.guard import ALARM, BEAT, BRING_BACK_AFTER_S, BYE, CHAIR, HIDDEN, STATION
from monitor.watchdog import STALL_LIMIT_S

#: The guard program.
GUARD_COMMAND: tuple[str, ...] = (sys.executable, "-m", "ui.guard_app")
#: A guard that ended is started again after this wait; one that keeps ending soon after its start waits twice
#: as long each time, up to :data:`RESTART_AFTER_MAX_S`, so a guard that cannot run does not fill the timeline.
RESTART_AFTER_S = 10.0
RESTART_AFTER_MAX_S = 300.0
#: A guard that ran this long was fine: the next one waits :data:`RESTART_AFTER_S` again.
HEALTHY_LIFE_S = 60.0
#: How often the window tells the guard it runs.
BEAT_MS = 250
#: How often a window off screen tries again to bring itself back.
BRING_BACK_EVERY_S = 2.0


class GuardLink:
    """One guard process and the pipe to it."""

    def __init__(
        self,
        chair: str = "",
        *,
        station: bool = False,
        command: Sequence[str] = GUARD_COMMAND,
        monotonic: Callable[[], float] = time.monotonic,
        restart_after_s: float = RESTART_AFTER_S,
    ) -> None:
        self.chair = " ".join(chair.split())
        self.station = station
        self.command = tuple(command)
        self.restart_after_s = restart_after_s
        self.starts = 0
        self.error = ""
        self._monotonic = monotonic
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = float("-inf")
        self._ended_at = float("-inf")
        self._short_lives = 0
        self._said_bye = False

    @property
    def running(self) -> bool:
        """Whether the guard process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The guard's process id (None before it was started)."""
        return self._process.pid if self._process is not None else None

    def start(self) -> bool:
        """Start the guard; False (with :attr:`error`) when it could not be started."""
        self._started_at = self._monotonic()
        try:
            # Its own session: the terminal's Ctrl-C and hang-up are for the program, not for its guard.
            process = subprocess.Popen(self.command, stdin=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            self.error = f"the guard could not be started: {exc}"
            return False
        assert process.stdin is not None
        os.set_blocking(process.stdin.fileno(), False)
        self._process = process
        self.starts += 1
        self.error = ""
        if self.chair or self.station:
            self._send(f"{STATION if self.station else CHAIR} {self.chair}")
        return True

    @property
    def restart_wait_s(self) -> float:
        """How long after the guard ended it is started again (longer while guards keep ending soon)."""
        return min(self.restart_after_s * 2.0 ** max(0, self._short_lives - 1), RESTART_AFTER_MAX_S)

    def beat(self, line: str = BEAT) -> str | None:
        """Tell the guard the window runs (``line``: :data:`BEAT`, or :data:`HIDDEN` with or without
        :data:`ALARM`). What went wrong, when something did: the guard had ended, or could not be started again
        (each says when it is tried again)."""
        if self._said_bye or (self.running and self._send(line)):
            return None
        now = self._monotonic()
        news = None
        if self._process is not None:
            code = self._process.poll()
            self._discard()
            self._ended(now)
            news = (f"the guard process ended unexpectedly (exit status {code}); it is started again within "
                    f"{self.restart_wait_s:g} s")
        if now - self._ended_at >= self.restart_wait_s:
            if self.start():
                self._send(line)
            else:
                self._ended(now)
                news = f"{self.error}; it is tried again within {self.restart_wait_s:g} s"
        return news

    def _ended(self, now: float) -> None:
        lived = now - self._started_at
        self._short_lives = 0 if lived >= HEALTHY_LIFE_S else self._short_lives + 1
        self._ended_at = now

    def bye(self, wait_s: float = 3.0) -> None:
        """The program ends on purpose: tell the guard, which then ends without an alarm."""
        if self._said_bye:
            return
        self._said_bye = True
        if self._process is None:
            return
        self._send(BYE)
        self._discard(wait_s)

    def _send(self, line: str) -> bool:
        process = self._process
        if process is None or process.stdin is None:
            return False
        try:
            os.write(process.stdin.fileno(), (line + "\n").encode())
        except BlockingIOError:
            return True  # the guard is slow to read: this beat is lost, the next ones are not
        except (BrokenPipeError, ValueError, OSError):
            return False
        return True

    def _discard(self, wait_s: float = 0.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(2.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class GuardBeat(QObject):
    """Beats ``guard`` on a timer of the window's thread, so a beat proves that thread runs.

    ``on_frozen(seconds)`` hears of a spell longer than the guard's limit between two ticks (the window's
    thread did not run; the guard alarmed), ``on_news(text)`` of a guard that had ended or could not be
    started again; ``on_tick()`` is called on every tick (the live window tells its recorder it runs).
    ``parent`` is the window watched: each beat says whether it is on screen, and ``alarm_active()`` whether it
    has an alarm to show (then a window off screen is brought back at once). :meth:`stop` says goodbye: the
    program is ending on purpose.
    """

    def __init__(
        self,
        guard: GuardLink,
        on_frozen: Callable[[float], None],
        on_news: Callable[[str], None],
        parent: QWidget,
        on_tick: Callable[[], None] | None = None,
        alarm_active: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(parent)
        self.guard = guard
        self.window = parent
        self._alarm_active = alarm_active
        self._hidden_since: float | None = None
        self._brought_back_at = float("-inf")
        #: How often the window was brought back on screen (tries), and how often it needed a new native window.
        self.brought_back = 0
        self.recreated = 0
        self._on_frozen = on_frozen
        self._on_news = on_news
        self._on_tick = on_tick
        self._ticked_at = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setInterval(BEAT_MS)
        self._timer.timeout.connect(self.tick)
        self._timer.start()

    def tick(self) -> None:
        """One beat; first, what the time since the last one says."""
        now = time.monotonic()
        frozen_s, self._ticked_at = now - self._ticked_at, now
        if frozen_s > STALL_LIMIT_S:
            self._on_frozen(frozen_s)
        if self._on_tick is not None:
            self._on_tick()
        news = self.guard.beat(self._line(now))
        if news is not None:
            self._on_news(news)

    def on_screen(self) -> bool:
        """Whether the window is on screen: shown, not minimised, and exposed by the window system (a window
        unmapped or destroyed from outside is not)."""
        handle = self.window.windowHandle()
        return (self.window.isVisible() and not self.window.isMinimized() and handle is not None
                and handle.isExposed())

    def _line(self, now: float) -> str:
        if self.on_screen():
            self._hidden_since = None
            return BEAT
        if self._hidden_since is None:
            self._hidden_since = now
        alarm = self._alarm_active()
        if ((alarm or now - self._hidden_since >= BRING_BACK_AFTER_S)
                and now - self._brought_back_at >= BRING_BACK_EVERY_S):
            self._bring_back(again=self._brought_back_at >= self._hidden_since)
            self._brought_back_at = now
        return f"{HIDDEN} {ALARM}" if alarm else HIDDEN

    def _bring_back(self, again: bool) -> None:
        """Restore the window, on top and active; when restoring it did not do, give it a new native window first
        (its own was unmapped or destroyed from outside)."""
        window = self.window
        self.brought_back += 1
        handle = window.windowHandle()
        if again and not window.isMinimized() and handle is not None:
            handle.destroy()
            self.recreated += 1
        window.setWindowState((window.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
        window.show()
        window.raise_()
        window.activateWindow()

    def stop(self) -> None:
        """No more beats, and goodbye to the guard (it ends without an alarm)."""
        self._timer.stop()
        self.guard.bye()
