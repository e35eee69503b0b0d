"""Python's cycle collector runs on the GUI thread, on a timer, never on the recorder's or the writer's.

Left to itself, the collector starts on whichever thread happens to allocate when a collection is
due, and with 75 Hz pleth that is mostly the recorder thread. When the garbage includes Qt objects
(a closed window, a chart's menus), Qt would then destroy widgets off the GUI thread: the
destructor takes a Qt lock and waits for the interpreter, while the GUI thread holds the interpreter
and waits for that lock. Recording and the window both stop, and nothing is left to say so. (A test
run met this: the recorder thread collected an earlier window's menus in the middle of a session.)

:func:`gui_application` gives every window program its application with the collector moved here.
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QCoreApplication, QObject, QTimer
from PySide6.QtWidgets import QApplication

#: How often the GUI thread runs what the automatic collector would have run by then.
COLLECT_EVERY_MS = 500


class GuiThreadCollector(QObject):
    """Turns automatic collection off and collects on a timer of the GUI thread instead; :meth:`stop` undoes it."""

    def __init__(self, parent: QObject, interval_ms: int = COLLECT_EVERY_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start(interval_ms)
        gc.disable()

    def collect_due(self) -> int:
        """Collect the youngest generation at every tick, and an older one once as many younger
        collections as its threshold have passed (as the interpreter counts them); returns the
        objects found unreachable.

        The youngest every time, not only past its threshold: a worker that allocates and frees a
        burst between two ticks leaves the count low, and the garbage made meanwhile would wait.
        """
        counts, thresholds = gc.get_count(), gc.get_threshold()
        generation = 2 if counts[2] > thresholds[2] else 1 if counts[1] > thresholds[1] else 0
        return gc.collect(generation)

    @property
    def active(self) -> bool:
        """Collection is on this timer (automatic collection is off)."""
        return self._timer.isActive()

    def stop(self) -> None:
        """Hand collection back to the interpreter (the event loop is ending)."""
        self._timer.stop()
        gc.enable()


def collect_on_gui_thread(app: QCoreApplication) -> GuiThreadCollector:
    """Move the cycle collector onto ``app``'s thread until the application quits (once per application)."""
    existing = app.findChild(GuiThreadCollector)
    if isinstance(existing, GuiThreadCollector) and existing.active:
        return existing
    collector = GuiThreadCollector(app)
    app.aboutToQuit.connect(collector.stop)
    return collector


def gui_application(name: str) -> QApplication:
    """The process's application, named, with the cycle collector on its thread."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName(name)
    collect_on_gui_thread(app)
    return app
