"""What a window program does with the signals of the terminal that started it.

A window does not need its terminal, but by default the terminal can stop it: Ctrl-Z (SIGTSTP) suspends
it, so monitoring and alarms stop while the window still shows the last values, and closing the terminal
(SIGHUP) ends it in the middle of a session. The window programs refuse both: Ctrl-Z is ignored and said
so, and after a hang-up the standard streams are pointed at the null device (writing to the closed
terminal would fail) and the program goes on. Ctrl-S (the terminal's flow control) would hold every write to the
terminal, a warning from the window's thread among them, and so the window: flow control is off while it runs.
"""

from __future__ import annotations

import atexit
import os
import signal
from collections.abc import Callable

from PySide6.QtCore import QTimer

from monitor.terminal_output import flow_control_off


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
