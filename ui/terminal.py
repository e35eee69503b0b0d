"""What a window program does with the signals of the terminal that started it.

A window does not need its terminal, but by default the terminal can stop it: Ctrl-Z (SIGTSTP) suspends
it, so monitoring and alarms stop while the window still shows the last values, and closing the terminal
(SIGHUP) ends it in the middle of a session. The window programs refuse both: Ctrl-Z is ignored and said
so, and after a hang-up the standard streams are pointed at the null device (writing to the closed
terminal would fail) and the program goes on. Ctrl-S (the terminal's flow control) would hold every write to the
terminal: flow control is off while it runs.

Nor can a terminal that takes no output hold the window. A window program writes there only warnings and errors,
but did so from the window's thread: a remote terminal that stalled, or standard error piped into something that
stopped reading, held the window at its next warning once the pipe was full; it stopped drawing, flashing and
sounding while it looked as usual. :func:`apart_from_the_terminal` sends all it writes to standard output and
error (``print``, the log, Qt's own messages) through writer threads
(:func:`monitor.terminal_output.unblocked_streams`).
"""

from __future__ import annotations

import atexit
import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from PySide6.QtCore import QMessageLogContext, QTimer, QtMsgType, qFormatLogMessage, qInstallMessageHandler

from monitor.terminal_output import flow_control_off, unblocked_streams

Given = ParamSpec("Given")
Result = TypeVar("Result")


def apart_from_the_terminal(run: Callable[Given, Result]) -> Callable[Given, Result]:
    """A window program whose writes to standard output and error (Qt's messages among them) never wait for the
    terminal: each is written by a thread of its own, what the terminal does not take waiting there."""

    @functools.wraps(run)
    def apart(*args: Given.args, **kwargs: Given.kwargs) -> Result:
        with unblocked_streams():
            previous = qInstallMessageHandler(_qt_message)
            try:
                return run(*args, **kwargs)
            finally:
                qInstallMessageHandler(previous)

    return apart


def _qt_message(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """A message of Qt's, as Qt writes it, to standard error (its writer thread); a fatal one at once, before Qt
    ends the process."""
    text = qFormatLogMessage(kind, context, message) + "\n"
    if kind == QtMsgType.QtFatalMsg and sys.__stderr__ is not None:
        sys.__stderr__.write(text)
        sys.__stderr__.flush()
        return
    sys.stderr.write(text)


def keep_running_without_terminal(on_suspend: Callable[[], None], on_hangup: Callable[[], None]) -> None:
    """Refuse Ctrl-Z and Ctrl-S and survive the terminal's hang-up; the callbacks hear of the first and the last
    on the window's thread."""
    atexit.register(flow_control_off())
    suspend = getattr(signal, "SIGTSTP", None)
    if suspend is not None:
        signal.signal(suspend, lambda *_: QTimer.singleShot(0, on_suspend))
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None:
        signal.signal(hangup, lambda *_: _detach(on_hangup))


def _detach(on_hangup: Callable[[], None]) -> None:
    """Standard input, output and error to the null device: the terminal is gone."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)
    QTimer.singleShot(0, on_hangup)
