"""Large numerics for HR/PR, SpO2 and NIBP, with marks for questionable, artifact, missing and stale values."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from monitor.readings import Flag, Reading
from ui import theme

# A value older than this is no longer "now" on a 1 Hz monitor; it is shown greyed with its age.
STALE_AFTER_S = 10.0


def flag_words(flags: frozenset[Flag]) -> str:
    """Device status flags in words, e.g. ``sensor off, low perfusion``."""
    return ", ".join(sorted(str(f).replace("_", " ") for f in flags if f is not Flag.IN_ALARM))


def minutes_ago(seconds: float) -> str:
    """``just now``, ``4 min ago``, ``1 h 05 min ago``."""
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    return f"{minutes // 60} h {minutes % 60:02d} min ago"


class NumericTile(QFrame):
    """One vital sign: name and unit, a large value, and a status line."""

    def __init__(self, label: str, unit: str, colour: str, size_px: int = theme.NUMERIC_PX) -> None:
        super().__init__()
        self.setObjectName("panel")
        self.colour = colour
        self.size_px = size_px
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 6)
        layout.setSpacing(0)
        top = QHBoxLayout()
        self.title = QLabel()
        self.unit = unit
        self.set_title(label)
        self.title.setStyleSheet(f"color: {colour}; font-size: 22px; font-weight: bold;")
        self.reference = QLabel("")
        self.reference.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 16px;")
        self.reference.setAlignment(Qt.AlignmentFlag.AlignRight)
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.reference)
        layout.addLayout(top)
        row = QHBoxLayout()
        self.mark = QLabel("")
        self.mark.setStyleSheet(f"color: {theme.WARNING_TEXT}; font-size: 34px; font-weight: bold;")
        self.value = QLabel("---")
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.extra = QLabel("")  # NIBP mean
        self.extra.setStyleSheet(
            f"color: {theme.PARAMETER_COLOURS['nibp_mean']}; font-size: {theme.NIBP_MEAN_PX}px; font-weight: bold;"
        )
        row.addWidget(self.mark)
        row.addStretch(1)
        row.addWidget(self.value)
        row.addWidget(self.extra)
        layout.addLayout(row)
        self.status = QLabel("")
        self.status.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 17px;")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.state = "missing"
        self._paint_value(theme.QUESTIONABLE)

    def set_title(self, label: str) -> None:
        """Change the name shown (e.g. HR to PR when no ECG is connected)."""
        self.title.setText(f"{label}  {self.unit}")

    def _paint_value(self, colour: str) -> None:
        theme.restyle(self.value, f"color: {colour}; font-size: {self.size_px}px; font-weight: bold;")

    def show_reading(self, reading: Reading | None, now: float, detail: str = "") -> None:
        """Show a value with its state: ok, questionable, unreliable, missing or stale."""
        self.show_values(reading, [reading.value] if reading is not None else [], now, detail)

    def show_values(
        self, reading: Reading | None, values: list[float | None], now: float, detail: str = "", join: str = "/"
    ) -> None:
        """Show one or more values taken together (e.g. systolic/diastolic) with one state."""
        text = join.join("---" if v is None else f"{v:.0f}" for v in values) if values else "---"
        status = detail
        if reading is None or all(v is None for v in values):
            self.state = "missing"
            reason = flag_words(reading.flags) if reading is not None else "no value yet"
            self.mark.setText("")
            self._paint_value(theme.QUESTIONABLE)
            self.value.setText("---" if len(values) <= 1 else "---/---")
            status = reason + (f" · {detail}" if detail else "")
        elif not reading.reliable:
            self.state = "unreliable"
            self.mark.setText("?")
            self._paint_value(theme.QUESTIONABLE)
            self.value.setText(text)
            status = f"not reliable: {flag_words(reading.flags)}" + (f" · {detail}" if detail else "")
        elif reading.flags - {Flag.IN_ALARM}:
            self.state = "questionable"
            self.mark.setText("?")
            self._paint_value(self.colour)
            self.value.setText(text)
            status = flag_words(reading.flags) + (f" · {detail}" if detail else "")
        else:
            self.state = "ok"
            self.mark.setText("")
            self._paint_value(self.colour)
            self.value.setText(text)
        if reading is not None and self.state != "missing" and now - reading.t > STALE_AFTER_S and not detail:
            self.state = "stale"
            self._paint_value(theme.QUESTIONABLE)
            status = f"no new value for {int(now - reading.t)} s"
        self.status.setText(status)


def clock_text(t: float) -> str:
    """Local wall-clock time of an epoch time, HH:MM."""
    return time.strftime("%H:%M", time.localtime(t))


class NumericsPanel(QWidget):
    """The three tiles, stacked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.hr = NumericTile("HR", "/min", theme.PARAMETER_COLOURS["hr"])
        self.spo2 = NumericTile("SpO2", "%", theme.PARAMETER_COLOURS["spo2"])
        self.nibp = NumericTile("NIBP", "mmHg", theme.PARAMETER_COLOURS["nibp_sys"], theme.NIBP_PX)
        self.nibp_schedule = QLabel("")
        self.nibp_schedule.setStyleSheet(f"color: {theme.TEXT}; font-size: 18px;")
        self.nibp.layout().addWidget(self.nibp_schedule)
        for tile in (self.hr, self.spo2, self.nibp):
            layout.addWidget(tile)
