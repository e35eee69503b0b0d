"""A window that cannot open says why in a window as well as on standard error.

Started from a desktop launcher, nobody reads standard error: the chair's program refused to start on a full
disk and nothing appeared at all (found under Xvfb with a window manager, the disk a full tmpfs). The message
box tells the nurse what the clinic's technician needs to know, and that the chair is not being watched
meanwhile. On the offscreen platform (tests, a machine without a screen) no box is shown: nobody could close it.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from monitor.app.errors import AppError, OtherRecordingGoesOn
from monitor.store import StoreError
from ui import theme

Frontend = Callable[[argparse.Namespace], int]

#: What each window's refusal means for the people waiting on it.
MEANING = {
    "gui": "Monitoring has not started at this chair: until it does, the bedside monitor's own display and "
           "alarms are all there is.",
    "review": "The record is not open.",
    "station": "The nurse station is not showing the chairs: each chair's own screen and alarms still work.",
}
#: What a start refused because another recording already does its work means: nothing stopped.
OTHER_GOES_ON = ("Nothing was stopped: the recording or program named above goes on as it was. Only this window did "
                 "not start.")


def show_start_error(name: str, text: str, meaning: str | None = None) -> QMessageBox | None:
    """Show ``text`` (why window ``name`` cannot open) and what that means (``meaning``, else the window's own
    :data:`MEANING`) in a message box and wait for OK; None when no box can be shown (no display could be opened,
    or the offscreen platform)."""
    app = QApplication.instance()
    if app is None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return None  # a terminal without a display: Qt would abort the process rather than open a box
        app = QApplication(sys.argv[:1])
    if QGuiApplication.platformName() == "offscreen":
        return None
    box = QMessageBox(QMessageBox.Icon.Critical, "Infusion Monitor cannot start",
                      f"{text}\n\n{meaning or MEANING.get(name, '')}".strip())
    box.setStyleSheet(theme.STYLE_SHEET)
    box.exec()
    app.processEvents()
    return box


def errors_in_a_window(name: str) -> Callable[[Frontend], Frontend]:
    """A front-end whose start-up refusal is also shown in a window (then raised on, for standard error)."""

    def wrap(run: Frontend) -> Frontend:
        @functools.wraps(run)
        def started(args: argparse.Namespace) -> int:
            try:
                return run(args)
            except (AppError, StoreError) as exc:
                show_start_error(name, str(exc), OTHER_GOES_ON if isinstance(exc, OtherRecordingGoesOn) else None)
                if isinstance(exc, AppError):
                    raise
                raise AppError(str(exc)) from None  # one line on standard error, never a traceback
        return started

    return wrap
