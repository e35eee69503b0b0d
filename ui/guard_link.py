"""The window program's side of the guard: starts the guard process and tells it, every tick, that it runs.

:class:`GuardLink` is the window's guard process (:class:`monitor.guard_process.GuardProcess`: the process and a
pipe that never blocks the window; a guard too busy to read loses a beat, not the screen). :class:`GuardBeat`
beats it from the window's event loop and tells the window of a spell in which that loop did not run (the guard
alarmed meanwhile) and of a guard that had ended, so the window can say so and keep a record. Each beat says
whether the window is on screen; one that is not is brought back at once while it has an alarm to show, else
after :data:`~monitor.guard.BRING_BACK_AFTER_S`: restored when minimised, given a new native window when that did
not do (one destroyed from outside). The guard alarms if it stays off screen all the same.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QWidget

from monitor.guard import ALARM, BEAT, BRING_BACK_AFTER_S, CHAIR, HIDDEN, STATION
from monitor.guard_process import RESTART_AFTER_S, GuardProcess
from monitor.watchdog import STALL_LIMIT_S

#: The guard program.
GUARD_COMMAND: tuple[str, ...] = (sys.executable, "-m", "ui.guard_app")
#: How often the window tells the guard it runs.
BEAT_MS = 250
#: How often a window off screen tries again to bring itself back.
BRING_BACK_EVERY_S = 2.0


class GuardLink(GuardProcess):
    """The window program's guard (:mod:`ui.guard_app`): a chair's, or a nurse station's with ``station``."""

    def __init__(
        self,
        chair: str = "",
        *,
        station: bool = False,
        command: Sequence[str] = GUARD_COMMAND,
        monotonic: Callable[[], float] = time.monotonic,
        restart_after_s: float = RESTART_AFTER_S,
    ) -> None:
        super().__init__(command, chair, kind=STATION if station else CHAIR, monotonic=monotonic,
                         restart_after_s=restart_after_s)


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
