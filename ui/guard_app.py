"""The guard process (``python -m ui.guard_app``): alarms on its own when the window program stops answering.

Started by the window program (:class:`ui.guard_link.GuardLink`), it reads the program's lines on its standard
input and judges them with :class:`monitor.guard.Guard`. While the program is silent for 3 s it shows a
flashing red window on top of everything and sounds the high-priority alarm; when beats come back, both go. A
program whose window stays off screen gets the same window and sound at medium priority (yellow, slower flash)
until the window is back. When the pipe closes without a goodbye, the program has ended: the alarm stays until
a person acknowledges it. Each change is also written to standard output (the terminal bell and the alarm
text, as ``record`` writes its alarms), so a log keeps it.

The guard lives in its own session: the terminal's Ctrl-C or hang-up, meant for the program, does not end it.
SIGTERM does.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import BinaryIO, TextIO

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from monitor.alarms.model import Priority
from monitor.guard import Guard, GuardState, GuardView
from monitor.watchdog import STALL_LIMIT_S
from ui import theme
from ui.alarm_sound import AlarmSoundPlayer
from ui.collector import gui_application
from ui.terminal import apart_from_the_terminal

#: How often the guard looks at what it has heard (half the high-priority flash period: 2 Hz, 50 % duty).
TICK_MS = 125
#: How long "Silence" pauses the sound of a not-responding alarm (IEC 60601-1-8 audio paused).
AUDIO_PAUSED_S = 120.0

_Heard = tuple[str | None, float]


class GuardWindow(QWidget):
    """The guard's alarm: a flashing panel in its priority's colour above every other window, with one button."""

    def __init__(self) -> None:
        super().__init__(None, Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.Window)
        self.setWindowTitle("Infusion Monitor — guard")
        self.setObjectName("guard")
        layout = QVBoxLayout(self)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.text)
        #: Said when this guard cannot sound its alarm (no audio device): then only this window and the
        #: terminal bell carry it.
        self.no_sound = QLabel()
        self.no_sound.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_sound.setVisible(False)
        layout.addWidget(self.no_sound)
        row = QHBoxLayout()
        row.addStretch(1)
        self.button = QPushButton()
        self.button.setMinimumHeight(48)
        row.addWidget(self.button)
        row.addStretch(1)
        layout.addLayout(row)
        self.lit = False
        self.priority = Priority.HIGH
        self.setMinimumSize(640, 220)
        self._paint(lit=True)

    def show_view(self, view: GuardView) -> None:
        """Show (or hide) the alarm; each call while it shows flips its flash."""
        if view.priority is None:
            self.hide()
            return
        self.priority = view.priority
        if self.text.text() != view.text:
            self.text.setText(view.text)
        self.button.setText("Acknowledge and close" if view.state is GuardState.ENDED else "Silence 2 min")
        if not self.isVisible():
            screen = QApplication.primaryScreen()
            if screen is not None:
                area = screen.availableGeometry()
                width = max(self.minimumWidth(), int(area.width() * 0.6))
                layout = self.layout()
                height = max(260, layout.totalHeightForWidth(width) if layout is not None else 0)
                self.setGeometry(area.x() + (area.width() - width) // 2, area.y() + 40, width, height)
            self.show()
            if QGuiApplication.platformName() != "offscreen":
                self.raise_()
        self._paint(not self.lit)

    def _paint(self, lit: bool) -> None:
        self.lit = lit
        colour = theme.ALARM_COLOURS[self.priority] if lit else theme.BACKGROUND
        text = theme.ALARM_TEXT_ON[self.priority] if lit else theme.TEXT
        self.setStyleSheet(
            f"QWidget#guard {{ background: {colour}; }}"
            f"QLabel {{ color: {text}; font-size: 26px; font-weight: bold; }}"
            "QPushButton { font-size: 18px; padding: 6px 18px; }"
        )


class GuardApp:
    """Reads the program's lines on a thread; on the GUI thread, judges them and drives the window and sound."""

    def __init__(
        self,
        lines_in: BinaryIO,
        out: TextIO,
        limit_s: float = STALL_LIMIT_S,
        on_quit: Callable[[], None] | None = None,
    ) -> None:
        self.guard = Guard(time.monotonic(), limit_s=limit_s)
        self.out = out
        self.on_quit = on_quit or QApplication.quit
        self.window = GuardWindow()
        self.sound = AlarmSoundPlayer(self.window)
        if not self.sound.available:
            self.window.no_sound.setText(f"NO SOUND from this alarm: {self.sound.status}")
            self.window.no_sound.setVisible(True)
        self.sound.output_changed.connect(self._sound_output)
        self.state = GuardState.STARTING
        self.silenced_until = 0.0
        self.acknowledged = False
        self._heard: queue.SimpleQueue[_Heard] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, args=(lines_in,), name="guard-reader", daemon=True)
        self.window.button.clicked.connect(self._button)
        # The window's: its ticks end with it, and never reach a window already gone.
        self._timer = QTimer(self.window)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.tick)
        self._ticks = 0

    def start(self) -> None:
        """Begin reading and judging."""
        self._reader.start()
        self._timer.start()
        self._say(f"guard: watching the window (pid {os.getpid()}; alarm after {self.guard.limit_s:g} s "
                  "without news)")

    def _read(self, lines_in: BinaryIO) -> None:
        try:
            for raw in lines_in:
                self._heard.put((raw.decode("utf-8", "replace"), time.monotonic()))
        except (OSError, ValueError):
            pass
        self._heard.put((None, time.monotonic()))

    def tick(self) -> None:
        """Take in what was heard, judge, and show the verdict."""
        while not self._heard.empty():  # this is the only reader: what is there stays there
            line, at = self._heard.get()
            if line is None:
                self.guard.closed(at)
            else:
                self.guard.heard(line, at)
        now = time.monotonic()
        view = self.guard.view(now)
        self._report(view)
        self._ticks += 1
        if self.acknowledged:
            return
        flash_every = max(1, (theme.FLASH_HALF_PERIOD_MS[view.priority or Priority.HIGH] or TICK_MS) // TICK_MS)
        if ((view.alarming and self._ticks % flash_every == 0) or view.alarming != self.window.isVisible()
                or view.priority not in (None, self.window.priority)):
            self.window.show_view(view)
        quiet = now < self.silenced_until and view.state is not GuardState.ENDED
        self.sound.set_sounding(view.priority if not quiet else None)
        if view.state is GuardState.DONE:
            self.quit()

    def _report(self, view: GuardView) -> None:
        if view.state is self.state:
            return
        was = self.state
        self.state = view.state
        if view.priority is not None:
            self._say(f"\a  ALARM {view.priority.name} technical: {view.text}")
        elif was in (GuardState.NOT_RESPONDING, GuardState.HIDDEN) and view.state is GuardState.WATCHING:
            self._say("guard: the window is responding again" if was is GuardState.NOT_RESPONDING
                      else "guard: the window is on screen again")
            self.silenced_until = 0.0
        elif view.state is GuardState.DONE:
            self._say("guard: the program ended normally")

    def _button(self) -> None:
        if self.state is GuardState.ENDED:
            self._say("guard: alarm acknowledged")
            self.acknowledged = True
            self.quit()
        else:
            self.silenced_until = time.monotonic() + AUDIO_PAUSED_S
            self._say(f"guard: sound paused for {AUDIO_PAUSED_S:g} s")

    def _sound_output(self, ok: bool, detail: str) -> None:
        """The audio output failed, or plays again, while the guard runs: said in its window and on its output."""
        self.window.no_sound.setText("" if ok else f"NO SOUND from this alarm: {detail}")
        self.window.no_sound.setVisible(not ok)
        if not ok:
            self._say(f"NO SOUND from the guard's alarm: {detail}")

    def _say(self, text: str) -> None:
        # With no terminal left to write to, the window and the sound are the alarm.
        with contextlib.suppress(OSError, ValueError):
            print(text, file=self.out, flush=True)

    def quit(self) -> None:
        """Stop the sound and leave the event loop."""
        self._timer.stop()
        self.sound.set_sounding(None)
        self.window.hide()
        self.on_quit()


@apart_from_the_terminal
def main() -> int:
    """Run the guard on standard input until the program says goodbye or its alarm is acknowledged."""
    for terminal_signal in (signal.SIGINT, signal.SIGHUP):
        signal.signal(terminal_signal, signal.SIG_IGN)
    app = gui_application("Infusion Monitor guard")
    # Unbuffered: a buffered reader blocked in a read on its thread would hold its lock at interpreter exit.
    lines_in = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)  # noqa: SIM115 (read until the end)
    guard = GuardApp(lines_in, sys.stdout)
    signal.signal(signal.SIGTERM, lambda *_: guard.quit())
    guard.start()
    try:
        return int(app.exec())
    finally:
        guard.sound.shutdown()
        guard.window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


if __name__ == "__main__":
    sys.exit(main())
