"""The guard's judgement: whether the window program still answers, judged from a second process.

The window's own watchdog (:mod:`monitor.watchdog`) runs on the window's thread. When that thread hangs, or
the whole program dies (a crash in a native library, a kill, a lost display), nothing in the program is left
to tell the nurse, and a frozen screen still shows the last values as if they were current. The window program
therefore starts a small guard process and writes it a line on every tick of its watchdog (four times a
second), from its GUI thread:

* ``beat`` - the window's thread is running, and its window is on screen;
* ``hidden`` - the window's thread is running, but its window is not on screen (minimised, unmapped, or
  destroyed from outside); ``hidden alarm`` while one of its alarms (medium or high) is active;
* ``chair <name>`` - what to call this chair in the alarm (optional, any time);
* ``station <name>`` - the program is a nurse station, not a chair's monitor (its alarms say so);
* ``recorder <name>`` - the program is ``record`` in a terminal, not a window;
* ``bye`` - the program is ending on purpose (the session was closed or the program was asked to stop).

The guard raises a high-priority technical alarm of its own (its own window and sound) when no line has come
for :data:`~monitor.watchdog.STALL_LIMIT_S`, clears it when beats come back, and raises a lasting one when the
pipe closes without ``bye``: the program has ended and with it recording and alarms. A window that stays off
screen (:data:`HIDDEN_LIMIT_S`, or :data:`HIDDEN_ALARM_LIMIT_S` while it has an alarm to show) gets a medium-
priority alarm of the guard's: nothing at the chair shows the values, and a window destroyed from outside
cannot bring itself back. This module is the pure part (no Qt, no process): lines and times in, what to show
out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from monitor.alarms.model import Priority
from monitor.watchdog import STALL_LIMIT_S

BEAT = "beat"
HIDDEN = "hidden"
#: After ``hidden``: the window has an alarm to show.
ALARM = "alarm"
BYE = "bye"
CHAIR = "chair"
STATION = "station"
#: The program is ``record`` in a terminal (no window): its guard writes to the terminal.
RECORDER = "recorder"

#: How long the window may be off screen before the guard says so (a glance at another program is fine; a
#: monitor left minimised is not), and how long while the window has an alarm it cannot show (it brings itself
#: back at once when it can, so a window still hidden after this cannot).
HIDDEN_LIMIT_S = 60.0
HIDDEN_ALARM_LIMIT_S = 5.0
#: A window off screen without an alarm to show brings itself back after this long (before the guard alarms);
#: with one, at once.
BRING_BACK_AFTER_S = 50.0

#: The alarm texts (not responding, ended) for a chair's monitor and for a nurse station; ``{where}`` is
#: " at <name>" when the program gave one, ``{silent}`` the seconds without news, ``{resume}`` the command that
#: resumes a recording's session (:func:`_resume_command`).
_TEXTS = {
    CHAIR: (
        "MONITOR NOT RESPONDING{where}: its screen has not updated for {silent:.0f} s - values on it are not "
        "current; watch the patient directly",
        "MONITOR PROGRAM STOPPED{where}: recording and alarms have ended - watch the patient directly and start "
        "the monitor again (the session can be resumed)",
        "MONITOR WINDOW NOT ON SCREEN{where} for {hidden:.0f} s: its values and alarms cannot be seen - bring the "
        "window back (if it cannot be, close the monitor and start it again: the session can be resumed)",
    ),
    RECORDER: (
        "RECORDING NOT RESPONDING{where}: no news from it for {silent:.0f} s - its values are not current and it "
        "raises no alarms; watch the patient directly",
        "RECORDING STOPPED{where}: the program ended without closing its session - recording and alarms have "
        "ended; watch the patient directly and resume the session ({resume})",
        "RECORDING NOT SEEN{where} for {hidden:.0f} s",  # a terminal has no window to hide: never said
    ),
    STATION: (
        "NURSE STATION NOT RESPONDING{where}: its screen has not updated for {silent:.0f} s - the chairs' values "
        "and alarms on it are not current; watch the chairs' own screens",
        "NURSE STATION STOPPED{where}: the chairs' alarms are no longer shown here - watch the chairs' own "
        "screens and start the station again",
        "NURSE STATION WINDOW NOT ON SCREEN{where} for {hidden:.0f} s: the chairs' values and alarms cannot be "
        "seen here - bring the window back, or watch the chairs' own screens",
    ),
}


class GuardState(enum.Enum):
    """What the guard knows about the program it watches."""

    STARTING = "starting"  # no beat yet
    WATCHING = "watching"
    NOT_RESPONDING = "not_responding"
    HIDDEN = "hidden"  # beats come, but the window is not on screen
    ENDED = "ended"  # the pipe closed without a goodbye: the program is gone
    DONE = "done"  # the program said goodbye


@dataclass(frozen=True, slots=True)
class GuardView:
    """The guard's verdict at one moment: its state, how long the program has been silent, the alarm text."""

    state: GuardState
    silent_s: float
    text: str

    @property
    def alarming(self) -> bool:
        """Whether this is an alarm condition (the guard's window and sound are on)."""
        return self.priority is not None

    @property
    def priority(self) -> Priority | None:
        """The alarm's priority: high for a program that stopped or does not respond (nothing at the chair
        alarms any more), medium for a window off screen (its program still alarms, by sound)."""
        if self.state in (GuardState.NOT_RESPONDING, GuardState.ENDED):
            return Priority.HIGH
        return Priority.MEDIUM if self.state is GuardState.HIDDEN else None


class Guard:
    """Lines and times in (:meth:`heard`, :meth:`closed`), the verdict out (:meth:`view`).

    Times are the guard's monotonic clock. Before the first beat the program is still starting;
    it gets ``start_grace_s`` to send one.
    """

    def __init__(self, started_at: float, limit_s: float = STALL_LIMIT_S, start_grace_s: float = 30.0) -> None:
        self.limit_s = limit_s
        self.start_grace_s = start_grace_s
        self.chair = ""
        self.kind = CHAIR
        self.unknown_lines = 0
        self._started_at = started_at
        self._last_heard: float | None = None
        self._closed_at: float | None = None
        self._bye = False
        self._hidden_since: float | None = None
        self._hidden_alarm = False

    def heard(self, line: str, now: float) -> None:
        """One line from the program (its newline stripped or not); unknown lines are counted and skipped."""
        word, _, rest = line.strip().partition(" ")
        if word == BEAT:
            self._last_heard = now
            self._hidden_since = None
        elif word == HIDDEN:
            self._last_heard = now
            if self._hidden_since is None:
                self._hidden_since = now
            self._hidden_alarm = rest.strip() == ALARM
        elif word == BYE:
            self._last_heard = now
            self._bye = True
        elif word in (CHAIR, STATION, RECORDER):
            # A name is no beat: it is sent before the window's event loop runs, and only a beat proves it does.
            self.kind = word
            self.chair = rest.strip()[:80]
        else:
            self.unknown_lines += 1

    def closed(self, now: float) -> None:
        """The pipe from the program has closed (the program ended, or closed it)."""
        if self._closed_at is None:
            self._closed_at = now

    def view(self, now: float) -> GuardView:
        """The verdict now."""
        since = self._last_heard if self._last_heard is not None else self._started_at
        silent = max(0.0, (self._closed_at if self._closed_at is not None else now) - since)
        if self._bye:
            return GuardView(GuardState.DONE, silent, "")
        where = "" if not self.chair else (
            f" (session {self.chair})" if self.kind == RECORDER else f" at {self.chair}")
        not_responding, ended, hidden = _TEXTS[self.kind]
        if self._closed_at is not None:
            return GuardView(GuardState.ENDED, silent, ended.format(where=where, resume=_resume_command(self.chair)))
        if self._last_heard is None:
            if now - self._started_at <= self.start_grace_s:
                return GuardView(GuardState.STARTING, silent, "")
        elif silent <= self.limit_s:
            if self._hidden_since is not None:
                hidden_s = now - self._hidden_since
                if hidden_s > (HIDDEN_ALARM_LIMIT_S if self._hidden_alarm else HIDDEN_LIMIT_S):
                    return GuardView(GuardState.HIDDEN, silent, hidden.format(where=where, hidden=hidden_s))
            return GuardView(GuardState.WATCHING, silent, "")
        return GuardView(GuardState.NOT_RESPONDING, silent, not_responding.format(where=where, silent=silent))


def _resume_command(session: str) -> str:
    """The command that resumes the recording's session, with its id (the start ``record`` names it by, which
    ``--resume`` takes); without one, where to find it."""
    if session:
        return f"infusion-monitor record --resume {session}"
    return "infusion-monitor record --resume with its id, which `infusion-monitor sessions` lists"
