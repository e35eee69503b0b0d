"""The alarm bar: every active alarm, highest priority first, in IEC colours and flash rates,
with acknowledge, audio pause (and its countdown) and the permanent audio-state indicator.

An alarm message is never cut: a row wraps onto a second line and the bar grows. When more
alarms are active than rows exist, the count of the rest is shown beside the buttons, where it
cannot be pushed out of sight. A fault of the computer itself (no sound device) is a short
indicator with the reason on hover and in the log, so it never takes room from patient alarms.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAccessible, QAccessibleEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from monitor.alarms.model import AlarmRecord, AlarmSnapshot, Priority
from monitor.wall_clock import clock_text
from ui import theme
from ui.labels import OneLineLabel

log = logging.getLogger(__name__)

MAX_ROWS = 4
SIDE_WIDTH_PX = 360
#: What the permanent indicator says when alarms cannot be heard; the reason is on hover.
NO_SOUND_TEXT = "NO SOUND"
FLASH_STEP_MS = 250  # the greatest common step of the 2 Hz and 0.5 Hz flash patterns


def _clock(seconds: float) -> str:
    s = max(0, int(seconds + 0.999))
    return f"{s // 60}:{s % 60:02d}"


def announce(widget: QWidget) -> None:
    """An alert event on ``widget`` for assistive technology: a screen reader reads out its name."""
    QAccessible.updateAccessibility(QAccessibleEvent(widget, QAccessible.Event.Alert))


def alarm_line(alarm: AlarmRecord) -> str:
    """What one row says: marker, message, since when, and its state."""
    since = clock_text(alarm.started_at)
    state = []
    if alarm.escalated:
        state.append("escalated")
    if alarm.latched:
        # A carried alarm's condition was not judged after the interruption: it may or may not be over.
        state.append("latched – not judged since" if alarm.carried else "latched – condition over")
    if alarm.silenced:
        state.append("acknowledged")
    tail = "".join(f" · {s}" for s in state)
    return f"{alarm.text} · since {since}{tail}"


def priority_colours(priority: Priority) -> str:
    """The style of a lit alarm of ``priority``: its IEC colour, with text readable on it."""
    return f"background: {theme.ALARM_COLOURS[priority]}; color: {theme.ALARM_TEXT_ON[priority]};"


class AlarmRow(QLabel):
    """One alarm, flashing at its priority's rate."""

    def __init__(self) -> None:
        super().__init__()
        self.priority: Priority | None = None
        self.lit = True
        self.setMinimumHeight(34)
        self.setTextFormat(Qt.TextFormat.PlainText)
        # A long message must never widen the window nor be cut: it wraps and the row grows.
        self.setWordWrap(True)
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumWidth(200)

    def show_alarm(self, alarm: AlarmRecord | None, extra: str = "") -> None:
        """Show an alarm (or nothing)."""
        self.hold(alarm, extra)
        self.setVisible(alarm is not None)

    def hold(self, alarm: AlarmRecord | None, extra: str = "") -> None:
        """Take an alarm's text and style without showing it: its height can be measured while it stays out of the
        layout (showing it for that made the window lay itself out with it, and the bar took its height)."""
        self.priority = alarm.priority if alarm else None
        self.setText(alarm_line(alarm) + extra if alarm else "")
        # A screen reader says the priority in words, where the screen has its marks and colour.
        self.setAccessibleName(f"{alarm.priority.label} priority alarm: {self.text()}" if alarm else "")
        self.set_lit(True)
        self.ensurePolished()  # its style sheet's font, for a row never shown yet

    def set_lit(self, lit: bool) -> None:
        """Flash state: lit shows the priority colour, unlit a dark field with coloured text."""
        self.lit = lit
        if self.priority is None:
            return
        if lit:
            style = priority_colours(self.priority)
        else:
            style = f"background: #1a1a1a; color: {theme.ALARM_COLOURS[self.priority]};"
        theme.restyle(self, style + " font-size: 21px; font-weight: bold; padding: 2px 10px; border-radius: 4px;")

    def fully_visible(self) -> bool:
        """True when every word of the message is inside the row (wrapped lines included)."""
        if not self.isVisible():
            return True
        rect = self.contentsRect()
        needed = self.heightForWidth(self.width())
        longest = max((self.fontMetrics().horizontalAdvance(w) for w in self.text().split()), default=0)
        return needed <= self.height() and longest <= rect.width()


class AlarmBar(QFrame):
    """All active alarms and the alarm controls."""

    acknowledge_requested = Signal()
    pause_requested = Signal()
    log_requested = Signal()
    #: The flash clock in ms since the flashing started (tiles in alarm flash with the rows).
    flashed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.snapshot: AlarmSnapshot | None = None
        self.now: float | None = None
        self.audio_detail = ""
        self.audio_available = True
        self.height_budget: int | None = None
        #: The alarms assistive technology has been told of (those active at the last snapshot).
        self._announced: set[str] = set()
        #: False at a locked screen: acknowledging needs a sign-in there.
        self.ack_allowed = True
        self._flash_step = 0
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        rows_box = QVBoxLayout()
        rows_box.setSpacing(3)
        # The watchdog's alarm (monitoring stopped or stalled) comes from outside the alarm engine,
        # which may be the part that stopped; it has a row of its own above the engine's alarms.
        self.watchdog_row = AlarmRow()
        self.watchdog_row.setVisible(False)
        rows_box.addWidget(self.watchdog_row)
        self.rows = [AlarmRow() for _ in range(MAX_ROWS)]
        self.quiet_label = QLabel("No active alarms")
        self.quiet_label.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 20px; padding: 4px 10px;")
        rows_box.addWidget(self.quiet_label)
        for row in self.rows:
            row.setVisible(False)
            rows_box.addWidget(row)
        layout.addLayout(rows_box, 1)

        side = QGridLayout()
        side.setSpacing(4)
        # One line, whatever it says: "AUDIO PAUSED 1:59" took two beside the buttons at 1280×800, and the bar grew
        # by a line while the pause counted down, moving an open form with it. It shares its row with the short
        # "Alarm log" button only, to have room for its text at full size.
        self.audio_label = OneLineLabel()
        self.audio_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.ack_button = QPushButton("Acknowledge (A)")
        self.pause_button = QPushButton("Audio pause (S)")
        self.pause_button.setToolTip("Silence alarm sound for 2 minutes; a new or higher alarm sounds again")
        self.log_button = QPushButton("Alarm log")
        self.ack_button.clicked.connect(self.acknowledge_requested)
        self.pause_button.clicked.connect(self.pause_requested)
        self.log_button.clicked.connect(self.log_requested)
        for widget in (self.audio_label, self.ack_button, self.pause_button, self.log_button):
            widget.setMinimumHeight(38)
        # "+N more": alarms beyond the rows, always in sight beside the buttons.
        self.more_label = QLabel("")
        self.more_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.more_label.setWordWrap(True)
        self.more_label.setVisible(False)
        top = QHBoxLayout()
        top.setSpacing(side.spacing())
        top.addWidget(self.audio_label, 1)
        top.addWidget(self.log_button)
        side.addLayout(top, 0, 0, 1, 2)
        side.addWidget(self.ack_button, 1, 0)
        side.addWidget(self.pause_button, 1, 1)
        side.addWidget(self.more_label, 2, 0, 1, 2)
        side.setRowStretch(3, 1)
        side_box = QWidget()
        side_box.setLayout(side)
        side_box.setFixedWidth(SIDE_WIDTH_PX)
        layout.addWidget(side_box)

        self._flash = QTimer(self)
        self._flash.setInterval(FLASH_STEP_MS)
        self._flash.timeout.connect(self._flash_tick)
        self.show_snapshot(None, None)

    def _announce(self, active: tuple[AlarmRecord, ...], shown: int) -> None:
        """Tell assistive technology of each alarm that has just started (the screen's flash and sound say it to
        everyone else): an alert on its row, or on "+N more" when it has no row. Each alarm once."""
        now_active = {a.id for a in active}
        for i, alarm in enumerate(active):
            if alarm.id not in self._announced:
                announce(self.rows[i] if i < shown else self.more_label)
        self._announced = now_active

    def _shape(self) -> tuple[object, ...]:
        """What decides the bar's height: each row's text when shown, and the "+N more" line."""
        return (*(row.text() if row.isVisibleTo(self) else None for row in self.rows),
                self.more_label.isVisibleTo(self), self.quiet_label.isVisibleTo(self))

    def sizeHint(self) -> QSize:
        """As tall as the rows shown need at the bar's width, no taller. (A word-wrapped row's own hint is measured
        at a narrow width, several times its real height: the window's layout gave the bar that, beyond its
        budget, and squeezed the numerics under it until the NIBP value was sliced.)"""
        hint = super().sizeHint()
        layout = self.layout()
        width = self.width() if self.width() > 0 else hint.width()
        if layout is not None and layout.hasHeightForWidth():
            return QSize(hint.width(), layout.totalHeightForWidth(width))
        return QSize(hint.width(), self.minimumSizeHint().height())

    def set_audio_output(self, available: bool, detail: str) -> None:
        """Tell the bar whether sound can be played at all (for the permanent indicator)."""
        if not available and (self.audio_available or detail != self.audio_detail):
            log.warning("alarm sound cannot be played: %s", detail or "no audio device")
        self.audio_available = available
        self.audio_detail = detail
        self._show_audio_state()

    def show_snapshot(self, snapshot: AlarmSnapshot | None, now: float | None) -> None:
        """Show the engine's view of the alarms at session time ``now``."""
        self.snapshot = snapshot
        self.now = now
        active = snapshot.active if snapshot is not None else ()
        self.quiet_label.setVisible(not active)
        if snapshot is not None and snapshot.alarms_off:
            self.quiet_label.setText("ALARMS OFF – physiological alarms are not being raised")
            theme.restyle(self.quiet_label, f"color: {theme.WARNING_TEXT}; font-size: 20px; font-weight: bold;")
        else:
            self.quiet_label.setText("No active alarms")
            theme.restyle(self.quiet_label, f"color: {theme.TEXT_DIM}; font-size: 20px; padding: 4px 10px;")
        shown = self._rows_that_fit(active)
        flashing = any(theme.FLASH_HALF_PERIOD_MS[a.priority] is not None for a in active)
        if flashing and not self._flash.isActive():
            self._flash_step = 0
            self._flash.start()
        elif not flashing and self._flash.isActive():
            self._flash.stop()
            for row in self.rows:
                row.set_lit(True)
        before = self._shape()
        for i, row in enumerate(self.rows):
            alarm = active[i] if i < shown else None
            if (alarm is None or row.text() != alarm_line(alarm) or row.priority != alarm.priority
                    or not row.isVisibleTo(self)):
                row.show_alarm(alarm)
                # A new text (the newest value) keeps the flash's rhythm: lit only in the lit half.
                if alarm is not None:
                    row.set_lit(self._lit(alarm.priority))
        self._show_more(active[shown:])
        self._announce(active, shown)
        if self._shape() != before:
            # The window's layout keeps the height it last asked the bar for: a row hidden or folded into "+N more"
            # left its space in the bar, taken from the numerics under it, until told.
            self.updateGeometry()
        self.ack_button.setEnabled(self.ack_allowed and any(not a.silenced for a in active))
        self._show_audio_state()

    def set_ack_allowed(self, allowed: bool) -> None:
        """Allow or refuse acknowledging from this bar (a locked screen refuses it until a sign-in)."""
        self.ack_allowed = allowed
        self.show_snapshot(self.snapshot, self.now)

    def set_height_budget(self, pixels: int | None) -> None:
        """The most height the alarm rows may take (None: no limit); rows beyond it are counted instead."""
        if pixels != self.height_budget:
            self.height_budget = pixels
            self.show_snapshot(self.snapshot, self.now)

    def _rows_that_fit(self, active: tuple[AlarmRecord, ...]) -> int:
        """How many of the most urgent alarms get a row: all up to MAX_ROWS while their wrapped text fits."""
        count = min(len(active), MAX_ROWS)
        if self.height_budget is None or count <= 1:
            return count
        width = self.rows[0].width() if self.rows[0].isVisible() and self.rows[0].width() > 0 else (
            self.width() - SIDE_WIDTH_PX - 30)
        total = 0
        for i in range(count):
            probe = self.rows[i]
            if probe.text() != alarm_line(active[i]) or probe.priority != active[i].priority:
                probe.hold(active[i])
            total += max(probe.minimumHeight(), probe.heightForWidth(max(width, 200))) + 3
            if total > self.height_budget and i > 0:
                return i
        return count

    def _show_more(self, hidden: tuple[AlarmRecord, ...]) -> None:
        """The count of active alarms without a row, in the colour of the most urgent of them."""
        self.more_label.setVisible(bool(hidden))
        if not hidden:
            return
        top = max(a.priority for a in hidden)
        # The marks say the priority as the rows do: colour alone is not enough (a colour-blind reader).
        self.more_label.setText(f"{top.marker} +{len(hidden)} more alarm{'s' if len(hidden) > 1 else ''} active")
        self.more_label.setAccessibleName(f"{len(hidden)} more active: " + "; ".join(
            f"{a.priority.label} priority alarm: {alarm_line(a)}" for a in hidden))
        self.more_label.setToolTip(
            "Also active (all are in the Alarm log):\n" + "\n".join(alarm_line(a) for a in hidden)
        )
        theme.restyle(
            self.more_label,
            f"{priority_colours(top)} font-size: 18px; font-weight: bold; border-radius: 4px; padding: 2px 6px;",
        )

    def audio_state_text(self) -> str:
        """The permanent indicator's text."""
        snap = self.snapshot
        parts = []
        if snap is not None and snap.alarms_off:
            parts.append("ALARMS OFF")
        if snap is not None and snap.audio_off:
            parts.append("AUDIO OFF")
        elif snap is not None and snap.audio_paused_until is not None and self.now is not None:
            remaining = snap.audio_paused_until - self.now
            if remaining > 0:
                parts.append(f"AUDIO PAUSED {_clock(remaining)}")
        if not self.audio_available:
            parts.append(NO_SOUND_TEXT)
        return " · ".join(parts) if parts else "Audio on"

    def _show_audio_state(self) -> None:
        text = self.audio_state_text()
        self.audio_label.setText(text)
        alert = text != "Audio on"
        colour = theme.WARNING_TEXT if alert else theme.TEXT_DIM
        weight = "bold" if alert else "normal"
        # Border and padding add up to the same either way: the label keeps its size as the state changes.
        border = (f"border: 2px solid {theme.WARNING_TEXT}; padding: 3px;" if alert
                  else "border: 1px solid #3a4653; padding: 4px;")
        theme.restyle(
            self.audio_label, f"color: {colour}; font-size: 17px; font-weight: {weight}; {border} border-radius: 4px;"
        )
        tip = "" if self.audio_available else (
            f"Alarm sound cannot be played: {self.audio_detail or 'no audio device'}. "
            "Alarms are shown on screen only; check the computer's sound output."
        )
        self.audio_label.setToolTip(tip)
        paused = self.snapshot is not None and self.snapshot.audio_paused_until is not None
        self.pause_button.setText("Audio pause (S)" if not paused else "Restart pause (S)")

    def show_watchdog(self, text: str | None) -> None:
        """Show (or clear) the watchdog's high-priority technical alarm; each call flips its flash."""
        row = self.watchdog_row
        if not text:
            row.priority = None
            row.setVisible(False)
            return
        row.priority = Priority.HIGH
        if row.text() != text:
            row.setText(text)
        row.setVisible(True)
        self.quiet_label.setVisible(False)
        row.set_lit(not row.lit)

    def stop_flashing(self) -> None:
        """Stop the flash timer (the window is going away)."""
        self._flash.stop()

    def _lit(self, priority: Priority) -> bool:
        """Whether a row of this priority is in the lit half of its flash now (on the shared flash clock)."""
        half = theme.FLASH_HALF_PERIOD_MS[priority]
        if half is None or not self._flash.isActive():
            return True
        return (self._flash_step * FLASH_STEP_MS // half) % 2 == 0

    def _flash_tick(self) -> None:
        self._flash_step += 1
        elapsed_ms = self._flash_step * FLASH_STEP_MS
        for row in self.rows:
            if row.priority is None or not row.isVisible():
                continue
            lit = self._lit(row.priority)
            if lit != row.lit:
                row.set_lit(lit)
        self.flashed.emit(elapsed_ms)
