"""The watched program's side of a guard: starts the guard process and writes it a line on every beat.

The guard (:mod:`monitor.guard` judges what it hears) runs in a process of its own, so it can alarm when the
program it watches cannot: hung, stopped (SIGSTOP) or killed. :class:`GuardProcess` owns that process and the pipe
to it; the lines go down a pipe that never blocks the program (a guard too busy to read loses a beat, not the
program's turn). A guard that has ended is started again (at most every :data:`RESTART_AFTER_S`, longer while
guards keep ending soon after their start). The window program's guard is :mod:`ui.guard_app`, ``record``'s is
:mod:`monitor.terminal_guard`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Sequence

from monitor.guard import BEAT, BYE, CHAIR

#: A guard that ended is started again after this wait; one that keeps ending soon after its start waits twice
#: as long each time, up to :data:`RESTART_AFTER_MAX_S`, so a guard that cannot run does not fill the timeline.
RESTART_AFTER_S = 10.0
RESTART_AFTER_MAX_S = 300.0
#: A guard that ran this long was fine: the next one waits :data:`RESTART_AFTER_S` again.
HEALTHY_LIFE_S = 60.0


class GuardProcess:
    """One guard process (``command``) and the pipe to it."""

    def __init__(
        self,
        command: Sequence[str],
        chair: str = "",
        *,
        kind: str = CHAIR,
        monotonic: Callable[[], float] = time.monotonic,
        restart_after_s: float = RESTART_AFTER_S,
    ) -> None:
        self.chair = " ".join(chair.split())
        #: What the guard watches (:data:`~monitor.guard.CHAIR`, :data:`~monitor.guard.STATION` or
        #: :data:`~monitor.guard.RECORDER`): its alarms name it.
        self.kind = kind
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
        if self.chair or self.kind != CHAIR:
            self._send(f"{self.kind} {self.chair}")
        return True

    @property
    def restart_wait_s(self) -> float:
        """How long after the guard ended it is started again (longer while guards keep ending soon)."""
        return min(self.restart_after_s * 2.0 ** max(0, self._short_lives - 1), RESTART_AFTER_MAX_S)

    def beat(self, line: str = BEAT) -> str | None:
        """Tell the guard the program runs (``line``: :data:`BEAT`, or :data:`HIDDEN` with or without
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
