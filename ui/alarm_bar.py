"""The alarm bar: every active alarm, highest priority first, in IEC colours and flash rates,
with acknowledge, audio pause (and its countdown) and the permanent audio-state indicator."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from monitor.alarms.model import ActiveAlarm, AlarmSnapshot, Priority
from ui import theme

MAX_ROWS = 4
FLASH_STEP_MS = 250  # the greatest common step of the 2 Hz and 0.5 Hz flash patterns


def _clock(seconds: float) -> str:
    s = max(0, int(seconds + 0.999))
    return f"{s // 60}:{s % 60:02d}"


def alarm_line(alarm: ActiveAlarm) -> str:
    """What one row says: marker, message, since when, and its state."""
    since = time.strftime("%H:%M:%S", time.localtime(alarm.started_at))
    state = []
    if alarm.escalated:
        state.append("escalated")
    if alarm.latched:
        state.append("latched – condition over")
    if alarm.acknowledged:
        state.append("acknowledged")
    tail = f"   ({', '.join(state)})" if state else ""
    return f"{alarm.text}   since {since}{tail}"


class AlarmRow(QLabel):
    """One alarm, flashing at its priority's rate."""

    def __init__(self) -> None:
        super().__init__()
        self.priority: Priority | None = None
        self.lit = True
        self.setMinimumHeight(34)
        self.setTextFormat(Qt.TextFormat.PlainText)
        # A long message must never widen the window past the screen: it is cut at the right edge.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(200)

    def show_alarm(self, alarm: ActiveAlarm | None, extra: str = "") -> None:
        """Show an alarm (or nothing)."""
        self.priority = alarm.priority if alarm else None
        self.setText(alarm_line(alarm) + extra if alarm else "")
        self.setVisible(alarm is not None)
        self.set_lit(True)

    def set_lit(self, lit: bool) -> None:
        """Flash state: lit shows the priority colour, unlit a dark field with coloured text."""
        self.lit = lit
        if self.priority is None:
            return
        colour = theme.ALARM_COLOURS[self.priority]
        if lit:
            style = f"background: {colour}; color: {theme.ALARM_TEXT_ON[self.priority]};"
        else:
            style = f"background: #1a1a1a; color: {colour};"
        theme.restyle(self, style + " font-size: 22px; font-weight: bold; padding: 2px 10px; border-radius: 4px;")


class AlarmBar(QFrame):
    """All active alarms and the alarm controls."""

    acknowledge_requested = Signal()
    pause_requested = Signal()
    log_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.snapshot: AlarmSnapshot | None = None
        self.now: float | None = None
        self.audio_detail = ""
        self.audio_available = True
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

        side = QVBoxLayout()
        self.audio_label = QLabel()
        self.audio_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.audio_label.setMinimumWidth(260)
        side.addWidget(self.audio_label)
        buttons = QHBoxLayout()
        self.ack_button = QPushButton("Acknowledge (A)")
        self.pause_button = QPushButton("Audio pause 2:00 (S)")
        self.log_button = QPushButton("Alarm log")
        self.ack_button.clicked.connect(self.acknowledge_requested)
        self.pause_button.clicked.connect(self.pause_requested)
        self.log_button.clicked.connect(self.log_requested)
        for button in (self.ack_button, self.pause_button, self.log_button):
            button.setMinimumHeight(40)
            buttons.addWidget(button)
        side.addLayout(buttons)
        layout.addLayout(side)

        self._flash = QTimer(self)
        self._flash.setInterval(FLASH_STEP_MS)
        self._flash.timeout.connect(self._flash_tick)
        self.show_snapshot(None, None)

    def set_audio_output(self, available: bool, detail: str) -> None:
        """Tell the bar whether sound can be played at all (for the permanent indicator)."""
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
        hidden = max(0, len(active) - MAX_ROWS)
        for i, row in enumerate(self.rows):
            alarm = active[i] if i < len(active) else None
            extra = f"   (+{hidden} more in the log)" if hidden and i == MAX_ROWS - 1 else ""
            if alarm is None or row.text() != alarm_line(alarm) + extra or row.priority != alarm.priority:
                row.show_alarm(alarm, extra)
        flashing = any(theme.FLASH_HALF_PERIOD_MS[a.priority] is not None for a in active)
        if flashing and not self._flash.isActive():
            self._flash_step = 0
            self._flash.start()
        elif not flashing and self._flash.isActive():
            self._flash.stop()
            for row in self.rows:
                row.set_lit(True)
        self.ack_button.setEnabled(any(not a.acknowledged for a in active))
        self._show_audio_state()

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
            parts.append(self.audio_detail.upper() or "NO AUDIO DEVICE")
        return " · ".join(parts) if parts else "Audio on"

    def _show_audio_state(self) -> None:
        text = self.audio_state_text()
        self.audio_label.setText(text)
        alert = text != "Audio on"
        colour = theme.WARNING_TEXT if alert else theme.TEXT_DIM
        weight = "bold" if alert else "normal"
        border = f"border: 2px solid {theme.WARNING_TEXT};" if alert else "border: 1px solid #3a4653;"
        theme.restyle(
            self.audio_label,
            f"color: {colour}; font-size: 18px; font-weight: {weight}; {border} border-radius: 4px; padding: 3px;"
        )
        paused = self.snapshot is not None and self.snapshot.audio_paused_until is not None
        self.pause_button.setText("Audio pause 2:00 (S)" if not paused else "Restart pause (S)")

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

    def _flash_tick(self) -> None:
        self._flash_step += 1
        elapsed_ms = self._flash_step * FLASH_STEP_MS
        for row in self.rows:
            if row.priority is None or not row.isVisible():
                continue
            half = theme.FLASH_HALF_PERIOD_MS[row.priority]
            lit = True if half is None else (elapsed_ms // half) % 2 == 0
            if lit != row.lit:
                row.set_lit(lit)
