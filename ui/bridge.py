"""Turns recorder updates (delivered on the recorder thread) into Qt signals on the GUI thread.

The recorder calls :meth:`RecorderBridge.push` from its own thread; the bridge only appends to
a deque. A timer on the GUI thread drains the deque once per tick and emits one signal with
the whole batch, so the charts redraw once per tick whatever the data rate. Commands go the
other way through :meth:`RecorderBridge.command`; their outcome comes back on the GUI thread
at the next tick, so the window never waits for the recorder.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from monitor.recorder import Recorder, RecorderUpdate

UI_TICK_MS = 100

CommandDone = Callable[[Any, BaseException | None], None]


class RecorderBridge(QObject):
    """Owns the recorder thread for the window and relays its updates and command results."""

    updates = Signal(list)  # list[RecorderUpdate], oldest first
    finished = Signal(str)  # end status, or an error message
    command_failed = Signal(str, str)  # command name, message a nurse can act on

    def __init__(self, recorder: Recorder, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.recorder = recorder
        self._queue: deque[RecorderUpdate] = deque()
        self._done: deque[tuple[str, Future[Any], CommandDone | None]] = deque()
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

    @property
    def running(self) -> bool:
        """True while the recorder thread is alive."""
        return self.recorder.running

    def command(self, name: str, user: str | None, on_done: CommandDone | None = None, **args: Any) -> Future[Any]:
        """Send a command to the recorder; ``on_done(result, error)`` runs later on the GUI thread.

        A refused command without ``on_done`` is reported through :attr:`command_failed`.
        """
        future = self.recorder.submit(name, user, **args)
        self.deliver(name, future, on_done)
        if not self.recorder.running:
            # Nobody will carry it out: say so rather than leave it pending.
            future.cancel()
        return future

    def deliver(self, name: str, future: Future[Any], on_done: CommandDone | None = None) -> None:
        """Once ``future`` settles (on whichever thread settles it), its outcome goes to ``on_done`` on the GUI
        thread at the next tick, as a command's does: work done apart from the window (opening a device) reaches
        it the way the recorder's answers do."""

        def settled(f: Future[Any]) -> None:
            with self._lock:
                self._done.append((name, f, on_done))

        future.add_done_callback(settled)

    def _drain(self) -> None:
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
            done = list(self._done)
            self._done.clear()
        if batch:
            self.updates.emit(batch)
        for name, future, on_done in done:
            error: BaseException | None
            if future.cancelled():
                result, error = None, RuntimeError("the recording has stopped")
            else:
                error = future.exception()
                result = None if error is not None else future.result()
            if on_done is not None:
                on_done(result, error)
            elif error is not None:
                self.command_failed.emit(name, str(error))
        if self.recorder.finished.is_set() and not self._finished_reported:
            self._finished_reported = True
            if self.recorder.error is not None:
                self.finished.emit(f"error: {self.recorder.error}")
            else:
                self.finished.emit(self.recorder.end_status or "closed")
