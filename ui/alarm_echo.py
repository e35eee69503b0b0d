"""The alarm echo: a line at the top of every window the live window opens (the session browser, review and course
windows), saying which alarm is active at the chair.

Those windows stand over the live window and, at 1280×800, over its alarm bar: a new alarm was heard there but not
told. The live window owns one :class:`AlarmFeed` and hands it each snapshot its alarm bar shows; every echo shows
that same snapshot, so an echo never keeps an alarm the bar has let go. A click on the echo, or
:data:`BACK_TO_ALARMS_KEY` in any of those windows, brings the live window forward, where alarms are acknowledged.
Windows opened without a live window (the ``review`` command) are given no feed and have no echo.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QMouseEvent, QShortcut
from PySide6.QtWidgets import QBoxLayout, QLabel, QSizePolicy, QWidget

from monitor.alarms.model import AlarmSnapshot, Priority
from ui import theme
from ui.alarm_bar import alarm_line, announce, priority_colours
from ui.plain_text import plain_tooltip

#: Brings the live window forward from any window it opened: no window uses it, and no field types it.
BACK_TO_ALARMS_KEY = "F9"
#: What the echo's tooltip and accessible name say it does.
BACK_TO_ALARMS_HINT = f"Click or press {BACK_TO_ALARMS_KEY} to bring the monitor forward and acknowledge there"
#: Size and frame of the echo, the same with or without an alarm: only its colours change.
ECHO_SHEET = "font-size: 17px; font-weight: bold; padding: 2px 10px; border-radius: 4px;"


class AlarmFeed(QObject):
    """The chair's alarms as its live window shows them, handed on to the windows it opened."""

    #: The newest snapshot (an ``AlarmSnapshot``, or None when the engine gave none).
    changed = Signal(object)
    #: An echo asked for the live window.
    forward_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: AlarmSnapshot | None = None
        #: The live window's own high-priority technical alarm (monitoring stopped, screen not updating), which no
        #: engine snapshot holds: the engine may be what stopped.
        self.watchdog: str | None = None

    def publish(self, snapshot: AlarmSnapshot | None) -> None:
        """Hand on the snapshot the live window's alarm bar has just been given."""
        self.snapshot = snapshot
        self.changed.emit(snapshot)

    def publish_watchdog(self, text: str | None) -> None:
        """Hand on the live window's watchdog alarm (None: none), told again only when it changes."""
        if text != self.watchdog:
            self.watchdog = text
            self.changed.emit(self.snapshot)

    def ask_forward(self) -> None:
        """Ask for the live window in front (it acknowledges, these windows do not)."""
        self.forward_requested.emit()


def echo_lines(snapshot: AlarmSnapshot | None, watchdog: str | None = None) -> list[str]:
    """Every active alarm as its bar row reads, most urgent first; the watchdog's alarm (``watchdog``) comes first of
    all: it says the rest may not be current."""
    return ([watchdog] if watchdog else []) + [alarm_line(a) for a in (snapshot.active if snapshot else ())]


def echo_text(lines: list[str]) -> str:
    """The first of ``lines`` (:func:`echo_lines`) and how many more there are ("" when there are none)."""
    if not lines:
        return ""
    more = f"   +{len(lines) - 1} more" if len(lines) > 1 else ""
    return lines[0] + more


class AlarmEcho(QLabel):
    """One line, in the colour of the chair's most urgent alarm, shown only while an alarm is active there.

    It listens to the feed while its window is shown, and takes the feed's newest snapshot each time the window is
    shown again: a window closed (or hidden) holds no connection and never shows what it missed as current.
    """

    clicked = Signal()

    def __init__(self, feed: AlarmFeed, window: QWidget) -> None:
        super().__init__()
        self.feed = feed
        self._window = window
        self._listening = False
        #: The alarms assistive technology has been told of here (those active at the last snapshot).
        self._announced: set[str] = set()
        self.setObjectName("alarm_echo")
        self.setTextFormat(Qt.TextFormat.PlainText)
        # An alarm message is never cut: a long one wraps.
        self.setWordWrap(True)
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        policy.setHeightForWidth(True)
        # Its line stays reserved while no alarm is active: an alarm that starts moves no button under a click.
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)
        self.setStyleSheet(ECHO_SHEET)
        self.ensurePolished()
        # The reserved line is one line of the echo's own font, also before its first alarm.
        margins = self.contentsMargins()
        self.setMinimumHeight(self.fontMetrics().height() + margins.top() + margins.bottom())
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(BACK_TO_ALARMS_HINT)
        self.clicked.connect(feed.ask_forward)
        QShortcut(QKeySequence(BACK_TO_ALARMS_KEY), window, activated=feed.ask_forward)
        window.installEventFilter(self)
        self.setVisible(False)

    def show_snapshot(self, snapshot: AlarmSnapshot | None) -> None:
        """Show the most urgent active alarm (and the count of the rest), or nothing."""
        watchdog = self.feed.watchdog
        active = snapshot.active if snapshot is not None else ()
        lines = echo_lines(snapshot, watchdog)
        text = echo_text(lines)
        if not text:
            self.setText("")
            self.setAccessibleName("")
            self._announced = set()
            self.setVisible(False)
            return
        top = Priority.HIGH if watchdog else active[0].priority
        self.setText(text)
        theme.restyle(self, f"{priority_colours(top)} {ECHO_SHEET}")
        self.setAccessibleName(f"{top.label} priority alarm at the chair: {text}. {BACK_TO_ALARMS_HINT}")
        # Literal: a message such as "SpO2 86 < 90" is no markup.
        self.setToolTip(plain_tooltip("Active at the chair:\n" + "\n".join(lines) + f"\n{BACK_TO_ALARMS_HINT}"))
        self.setVisible(True)
        told = {a.id for a in active} | ({watchdog} if watchdog else set())
        if told - self._announced:
            announce(self)
        self._announced = told

    def listening(self) -> bool:
        """Whether the echo takes the feed's snapshots now (while its window is shown)."""
        return self._listening

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Listen while the window is shown; catch up with the feed each time it is shown again."""
        if watched is self._window:
            if event.type() == QEvent.Type.Show and not self._listening:
                self._listening = True
                self.feed.changed.connect(self.show_snapshot)
                self.show_snapshot(self.feed.snapshot)
            elif event.type() == QEvent.Type.Hide and self._listening:
                self._listening = False
                self.feed.changed.disconnect(self.show_snapshot)
        return False

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """A click (released over the echo) asks for the live window."""
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit()
        super().mouseReleaseEvent(event)


def add_alarm_echo(feed: AlarmFeed | None, window: QWidget, layout: QBoxLayout) -> AlarmEcho | None:
    """An echo at the top of ``layout`` in ``window`` when the window was opened from a live window (``feed``)."""
    if feed is None:
        return None
    echo = AlarmEcho(feed, window)
    layout.insertWidget(0, echo)
    return echo
