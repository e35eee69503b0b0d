"""``record``'s guard (``python -m monitor.terminal_guard``): alarms in the terminal when ``record`` stops answering.

``record`` runs in a terminal with no window, and its own watchdog is a thread of the same process: when the whole
process is stopped (SIGSTOP, a debugger), hangs with every thread held, or is killed, nothing of it is left to say
so, and the last progress line still reads as current. This small process, started by ``record`` and fed its
beats on standard input (:mod:`monitor.guard_process`), judges them with :class:`monitor.guard.Guard` and writes
to the same terminal: the alarm with the bell after 3 s without news, again every
:data:`REPEAT_S` while it lasts (the terminal bell is ``record``'s only sound), a line when news comes back, and
the lasting alarm when the pipe closes without a goodbye (the program ended without closing its session).

It lives in its own session: the terminal's Ctrl-C and hang-up are for ``record``, which says goodbye.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

from monitor.guard import Guard, GuardState, GuardView

#: The guard program, as ``record`` starts it.
TERMINAL_GUARD_COMMAND: tuple[str, ...] = (sys.executable, "-m", "monitor.terminal_guard")
#: How often the guard looks at what it has heard.
TICK_S = 0.25
#: A high-priority alarm sounds again about every 10 s while it lasts (IEC 60601-1-8; CLINICAL.md).
REPEAT_S = 10.0


class TerminalGuard:
    """Reads lines from ``fd``, judges them, and writes each change of verdict to ``out``."""

    def __init__(self, fd: int, out: TextIO, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.fd = fd
        self.out = out
        self._monotonic = monotonic
        self.guard = Guard(monotonic())
        self.state = GuardState.STARTING
        self._said_at = float("-inf")
        self._pending = b""
        self._closed = False

    def run(self) -> int:
        """Watch until the program says goodbye or its pipe closes; 0 after a goodbye, 1 after an unannounced end."""
        while True:
            self.take_in(TICK_S)
            view = self.guard.view(self._monotonic())
            self.report(view)
            if view.state is GuardState.DONE:
                return 0
            if view.state is GuardState.ENDED:
                return 1

    def take_in(self, wait_s: float) -> None:
        """Hear every whole line that arrives within ``wait_s`` (or the pipe's end)."""
        if self._closed:
            time.sleep(wait_s)
            return
        ready, _, _ = select.select([self.fd], [], [], wait_s)
        if not ready:
            return
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:
            chunk = b""
        now = self._monotonic()
        if not chunk:
            self._closed = True
            self.guard.closed(now)
            return
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for line in lines:
            self.guard.heard(line.decode("utf-8", "replace"), now)

    def report(self, view: GuardView) -> None:
        """Write a change of verdict, and an alarm again every :data:`REPEAT_S` while it lasts."""
        now = self._monotonic()
        was, self.state = self.state, view.state
        if view.priority is not None:
            if view.state is not was or now - self._said_at >= REPEAT_S:
                self._said_at = now
                self._say(f"\a  ALARM {view.priority.name} technical: {view.text}")
        elif was is GuardState.NOT_RESPONDING and view.state is GuardState.WATCHING:
            self._say("  guard: the recording is answering again")

    def _say(self, text: str) -> None:
        # A terminal that has gone takes nothing more: there is no one left there to tell.
        with contextlib.suppress(OSError, ValueError):
            print(text, file=self.out, flush=True)


def main() -> int:
    """Guard standard input's program, writing where ``record`` writes its alarms (the standard output both share)."""
    for terminal_signal in (signal.SIGINT, signal.SIGHUP):
        signal.signal(terminal_signal, signal.SIG_IGN)
    return TerminalGuard(sys.stdin.fileno(), sys.stdout).run()


if __name__ == "__main__":
    sys.exit(main())
