"""The watchdog: notices, from outside the recorder thread, that monitoring has stopped or stalled.

The recorder stamps :attr:`Recorder.last_beat` (monotonic) at the end of every loop turn that completes
(a turn that fails is alarmed at once, named with its error, until a turn completes again), names
the threads it depends on (itself, the store writer, the device reader or listener) and passes on
the reader's own beat. The
watchdog runs elsewhere - the window's GUI thread, or a thread of its own in ``record`` - and
reports a high-priority technical alarm when a turn has not completed for
:data:`STALL_LIMIT_S`, the last turn failed, or one of those threads has ended while the session is still open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

#: A recorder that has not finished a loop turn for this long has stalled (IEC: a technical alarm).
STALL_LIMIT_S = 3.0


class Watched(Protocol):
    """What the watchdog needs from a recorder."""

    last_beat: float
    #: The error of the last turn while turns fail one after another (None: the last turn completed).
    turn_error: str | None
    closed: threading.Event

    def threads(self) -> dict[str, threading.Thread]: ...

    def beats(self) -> dict[str, float]: ...


@dataclass(frozen=True, slots=True)
class Stall:
    """Something that stopped: which part, whether its thread ended, and for how long it has been silent."""

    role: str
    stopped: bool
    silent_s: float
    #: Why its turns fail, when they do (a stall that is not a hang).
    error: str | None = None

    def text(self) -> str:
        """The alarm text a nurse reads."""
        if self.stopped:
            return f"MONITORING STOPPED: the {self.role} thread has ended - values on screen are not current"
        if self.error:
            return (f"MONITORING FAILING: the {self.role}'s turns fail ({self.error[:120]}), none completed for "
                    f"{self.silent_s:.0f} s - alarms and values on screen are not current")
        return (f"MONITORING STALLED: the {self.role} has not run for {self.silent_s:.0f} s - "
                "values on screen are not current")


class Watchdog:
    """Checks a recorder on demand; :meth:`check` is cheap and thread-safe."""

    def __init__(
        self, recorder: Watched, limit_s: float = STALL_LIMIT_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.recorder = recorder
        self.limit_s = limit_s
        self._monotonic = monotonic
        self._seen: dict[str, threading.Thread] = {}

    def check(self) -> list[Stall]:
        """Everything stopped or stalled now (empty when all is well or the session has ended)."""
        if self.recorder.closed.is_set():
            return []
        stalls: list[Stall] = []
        silent = self._monotonic() - self.recorder.last_beat
        # Threads seen once stay watched: a reader that ended disappears from the recorder's list too.
        self._seen.update(self.recorder.threads())
        for role, thread in self._seen.items():
            if not thread.is_alive() and not self.recorder.closed.is_set():
                stalls.append(Stall(role, True, silent))
        # A turn that failed is known at once (its readings may not have been judged): no waiting for the limit,
        # which is for a turn that is still running.
        failing = self.recorder.turn_error
        if (silent > self.limit_s or failing is not None) and not any(s.role == "recorder" for s in stalls):
            stalls.append(Stall("recorder", False, silent, failing))
        for role, beat in self.recorder.beats().items():
            quiet = self._monotonic() - beat
            if quiet > self.limit_s and not any(s.role == role for s in stalls):
                stalls.append(Stall(role, False, quiet))
        return stalls


class WatchdogThread:
    """Runs a :class:`Watchdog` on its own thread and calls ``alarm(stalls)`` on every change (and ``on_turn()`` on
    every turn)."""

    def __init__(self, watchdog: Watchdog, alarm: Callable[[list[Stall]], None], interval_s: float = 0.5,
                 on_turn: Callable[[], None] | None = None) -> None:
        self.watchdog = watchdog
        self.alarm = alarm
        self.interval_s = interval_s
        #: Called on every turn of this thread: ``record`` beats its guard process with it, which alarms when
        #: the whole process (this thread with it) stops.
        self.on_turn = on_turn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def start(self) -> None:
        """Begin watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (joins the thread)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def _run(self) -> None:
        reported: list[str] = []
        while not self._stop.wait(self.interval_s):
            stalls = self.watchdog.check()
            roles = sorted(s.role for s in stalls)
            if stalls or roles != reported:
                # Repeated while it lasts (the terminal bell is the sound), once when it clears.
                self.alarm(stalls)
            reported = roles
            if self.on_turn is not None:
                self.on_turn()
