"""``record``'s guard in the terminal: lines in through a real pipe, on a clock the test moves; what it writes out."""

from __future__ import annotations

import contextlib
import io
import os

from monitor.guard import GuardState
from monitor.terminal_guard import TerminalGuard

NOT_RESPONDING = ("\a  ALARM HIGH technical: RECORDING NOT RESPONDING (session 1a2b3c4d): no news from it for {} s - "
                  "its values are not current and it raises no alarms; watch the patient directly")


class _Bed:
    """A guard on a pipe; the test writes lines and moves the clock."""

    def __init__(self) -> None:
        self.clock = [0.0]
        self.read_end, self.write_end = os.pipe()
        self.out = io.StringIO()
        self.guard = TerminalGuard(self.read_end, self.out, monotonic=lambda: self.clock[0])

    def send(self, text: str) -> None:
        os.write(self.write_end, text.encode())

    def at(self, t: float) -> list[str]:
        """Move the clock to ``t``, let the guard hear and judge; the lines it wrote then."""
        self.clock[0] = t
        before = len(self.out.getvalue().splitlines())
        self.guard.take_in(0.0)
        self.guard.report(self.guard.guard.view(t))
        return self.out.getvalue().splitlines()[before:]

    def close(self) -> None:
        for fd in (self.read_end, self.write_end):
            with contextlib.suppress(OSError):
                os.close(fd)


def test_silence_is_an_alarm_again_every_10_s_until_beats_come_back() -> None:
    bed = _Bed()
    try:
        bed.send("recorder 1a2b3c4d\nbeat\n")
        assert bed.at(1.0) == []
        assert bed.at(4.0) == []  # 3 s is the limit itself
        assert bed.at(4.5) == [NOT_RESPONDING.format(4)]
        assert bed.at(10.0) == []
        assert bed.at(14.5) == [NOT_RESPONDING.format(14)]  # 10 s on, with the bell
        bed.send("be")  # half a line is no beat yet
        assert bed.at(14.7) == []
        bed.send("at\n")
        assert bed.at(15.0) == ["  guard: the recording is answering again"]
        assert bed.guard.state is GuardState.WATCHING
    finally:
        bed.close()


def test_a_pipe_closed_without_goodbye_is_the_lasting_alarm_and_a_goodbye_ends_quietly() -> None:
    bed = _Bed()
    try:
        bed.send("recorder 1a2b3c4d\nbeat\n")
        bed.at(1.0)
        os.close(bed.write_end)
        assert bed.at(1.5) == [
            "\a  ALARM HIGH technical: RECORDING STOPPED (session 1a2b3c4d): the program ended without closing its "
            "session - recording and alarms have ended; watch the patient directly and resume the session "
            "(infusion-monitor record --resume 1a2b3c4d)"]
        assert bed.guard.run() == 1  # it ends at once: nobody acknowledges an alarm in a terminal
    finally:
        bed.close()
    quiet = _Bed()
    try:
        quiet.send("recorder 1a2b3c4d\nbeat\nbye\n")
        os.close(quiet.write_end)
        assert quiet.guard.run() == 0
        assert quiet.out.getvalue() == ""
    finally:
        quiet.close()
