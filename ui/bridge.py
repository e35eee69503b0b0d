"""Turns recorder updates (delivered on the recorder thread) into Qt signals on the GUI thread.

The recorder calls :meth:`RecorderBridge.push` from its own thread; the bridge only appends to
a deque. A timer on the GUI thread drains the deque once per tick and emits one signal with
the whole batch, so the charts redraw once per tick whatever the data rate.
"""

from __future__ import annotations

import threading
from collections import deque

from PySide6.QtCore import QObject, QTimer, Signal

from monitor.recorder import Recorder, RecorderUpdate

UI_TICK_MS = 200


class RecorderBridge(QObject):
    """Owns the recorder thread for the window and relays its updates."""

    updates = Signal(list)  # list[RecorderUpdate], oldest first
    finished = Signal(str)  # end status, or an error message

    def __init__(self, recorder: Recorder, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.recorder = recorder
        self._queue: deque[RecorderUpdate] = deque()
        self._lock = threading.Lock()
        recorder.add_listener(self.push)
        self._timer = QTimer(self)
        self._timer.setInterval(UI_TICK_MS)
        self._timer.timeout.connect(self._drain)
        self._finished_reported = False

    def push(self, update: RecorderUpdate) -> None:
        """Called on the recorder thread; only queues."""
        with self._lock:
            self._queue.append(update)

    def start(self) -> None:
        """Start the recorder thread and the UI tick."""
        self.recorder.start()
        self._timer.start()

    def stop(self) -> None:
        """Stop the recorder (flushes and closes the session) and deliver what is left."""
        self.recorder.stop()
        self._drain()
        self._timer.stop()

    def _drain(self) -> None:
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
        if batch:
            self.updates.emit(batch)
        if self.recorder.finished.is_set() and not self._finished_reported:
            self._finished_reported = True
            if self.recorder.error is not None:
                self.finished.emit(f"error: {self.recorder.error}")
            else:
                self.finished.emit(self.recorder.end_status or "closed")
