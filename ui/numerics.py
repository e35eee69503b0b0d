"""Large numerics for HR/PR, SpO2 and NIBP, with marks for questionable, artifact, missing and stale values."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QBoxLayout, QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from drivers.core.readings import Flag, Reading
from monitor.alarms.model import Priority
from monitor.labels import NIBP_LABEL, PARAMETER_LABELS
from ui import theme
from ui.labels import ElidedLabel, FitLabel

# A value older than this is no longer "now" on a 1 Hz monitor; it is shown greyed with its age.
STALE_AFTER_S = 10.0
#: Between the alarm's limit and the value's status when they share the tile's bottom line.
BOTTOM_GAP_PX = 12


def flag_words(flags: frozenset[Flag]) -> str:
    """Device status flags in words, e.g. ``sensor off, low perfusion``."""
    return ", ".join(sorted(str(f).replace("_", " ") for f in flags if f is not Flag.IN_ALARM))


class NumericTile(QFrame):
    """One vital sign: name and unit, a large value, and a status line."""

    def __init__(self, label: str, unit: str, colour: str, size_px: int = theme.NUMERIC_PX) -> None:
        super().__init__()
        self.setObjectName("panel")
        self.colour = colour
        self.size_px = size_px
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 2, 10, 2)
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
        self.value = FitLabel("---")
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.extra = QLabel("")  # NIBP mean
        row.addWidget(self.mark)
        row.addWidget(self.value, 1)
        row.addWidget(self.extra)
        layout.addLayout(row, 1)
        # The limit an active alarm breached (left, in the alarm's colour) and the value's status (right) share
        # one line when both fit. The alarm's text is never cut (its "(over)" says the value is no longer in
        # breach): it takes the width it needs, the status the rest, and when the two do not fit side by side the
        # status goes under it (see _arrange_bottom).
        self.bottom = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.bottom.setSpacing(BOTTOM_GAP_PX)
        self.alarm = QLabel("")
        self.alarm.setTextFormat(Qt.TextFormat.PlainText)
        self.alarm.setVisible(False)
        self.status = ElidedLabel("")
        self.status.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 17px;")
        self.status.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.bottom.addWidget(self.alarm)
        self.bottom.addWidget(self.status, 1)
        layout.addLayout(self.bottom)
        self.state = "missing"
        self.alarm_priority: Priority | None = None
        self.alarm_lit = True
        self._value_colour = theme.QUESTIONABLE
        self._paint_value(theme.QUESTIONABLE)
        self._paint_extra()

    def set_title(self, label: str) -> None:
        """Change the name shown (e.g. HR to PR when no ECG is connected)."""
        self.title.setText(f"{label}  {self.unit}")

    def _paint_value(self, colour: str) -> None:
        self._value_colour = colour
        if self.alarm_priority is not None:
            # An active alarm wins: the value flashes in its priority's colour (IEC 60601-1-8 rates).
            alarm = theme.ALARM_COLOURS[self.alarm_priority]
            colour = theme.ALARM_TEXT_ON[self.alarm_priority] if self.alarm_lit else alarm
            self.value.set_fill(alarm if self.alarm_lit else None)
        else:
            self.value.set_fill(None)
        theme.restyle(self.value, f"color: {colour}; font-size: {self.size_px}px; font-weight: bold;")

    def set_alarm(self, priority: Priority | None, limit_text: str = "") -> None:
        """Show (or clear) the state of this parameter's most urgent active alarm and the limit it breached."""
        if priority != self.alarm_priority:
            self.alarm_priority = priority
            self.alarm_lit = True
        self.alarm.setText(limit_text if priority is not None else "")
        self.alarm.setVisible(priority is not None)
        if priority is not None:
            theme.restyle(
                self.alarm,
                f"color: {theme.ALARM_COLOURS[priority]}; font-size: 18px; font-weight: bold;",
            )
        self._arrange_bottom()
        self._paint_value(self._value_colour)

    def alarm_shown_whole(self) -> bool:
        """True when the alarm line's whole text is inside its label (or no alarm is shown)."""
        if not self.alarm.isVisible():
            return True
        self.alarm.ensurePolished()
        return self.alarm.fontMetrics().horizontalAdvance(self.alarm.text()) <= self.alarm.contentsRect().width()

    def bottom_on_one_line(self) -> bool:
        """True when the alarm's limit and the status share one line (False: the status is under the limit)."""
        return self.bottom.direction() is QBoxLayout.Direction.LeftToRight

    def _arrange_bottom(self) -> None:
        """The alarm's limit and the status side by side when both fit whole, else the status under the limit."""
        self.alarm.ensurePolished()  # its style sheet's font, before it is first shown
        margins = self.layout().contentsMargins()
        room = self.contentsRect().width() - margins.left() - margins.right()
        needed = self.alarm.sizeHint().width() + BOTTOM_GAP_PX + self.status.sizeHint().width()
        together = self.alarm.isHidden() or not self.status.text() or needed <= room
        direction = QBoxLayout.Direction.LeftToRight if together else QBoxLayout.Direction.TopToBottom
        if self.bottom.direction() is not direction:
            self.bottom.setDirection(direction)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """A narrower tile may need the status under the alarm's limit (a wider one, back beside it)."""
        super().resizeEvent(event)
        self._arrange_bottom()

    def flash(self, elapsed_ms: int) -> None:
        """Follow the alarm bar's flash clock: lit or dark at this priority's rate."""
        if self.alarm_priority is None:
            return
        half = theme.FLASH_HALF_PERIOD_MS[self.alarm_priority]
        lit = True if half is None else (elapsed_ms // half) % 2 == 0
        if lit != self.alarm_lit:
            self.alarm_lit = lit
            self._paint_value(self._value_colour)

    def show_reading(self, reading: Reading | None, now: float, detail: str = "", *, cut_off: str = "") -> None:
        """Show a value with its state: ok, questionable, unreliable, missing or stale.

        With ``cut_off``, why nothing newer can come ("link lost", "recording ended"), the value is stale at once.
        """
        self.show_values(reading, [reading.value] if reading is not None else [], now, detail, cut_off=cut_off)

    def show_values(
        self, reading: Reading | None, values: list[float | None], now: float, detail: str = "", join: str = "/",
        *, cut_off: str = "",
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
        if reading is not None and self.state != "missing" and (cut_off or (
                not detail and now - reading.t > STALE_AFTER_S)):
            # A value shown with its own age (the cuff's "4 min ago") is not stale by the seconds since it came,
            # but it is once nothing newer can come: grey like the others, its age kept.
            self.state = "stale"
            self._paint_value(theme.QUESTIONABLE)
            age = detail or f"no new value for {int(max(0.0, now - reading.t))} s"
            status = (f"{cut_off} · " if cut_off else "") + age
        self.status.setText(status)
        self._paint_extra()
        self._arrange_bottom()

    def _paint_extra(self) -> None:
        """The value beside the main one (the NIBP mean) in the main value's state: grey when it is grey."""
        grey = self.state in ("missing", "unreliable", "stale")
        colour = theme.QUESTIONABLE if grey else theme.PARAMETER_COLOURS["nibp_mean"]
        theme.restyle(self.extra, f"color: {colour}; font-size: {theme.NIBP_MEAN_PX}px; font-weight: bold;")


class NumericsPanel(QWidget):
    """The three tiles, stacked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        hr, spo2, nibp = (PARAMETER_LABELS[key] for key in ("hr", "spo2", "nibp_sys"))
        self.hr = NumericTile(hr.short, hr.unit, theme.PARAMETER_COLOURS["hr"])
        self.spo2 = NumericTile(spo2.short, spo2.unit, theme.PARAMETER_COLOURS["spo2"])
        self.nibp = NumericTile(NIBP_LABEL, nibp.unit, theme.PARAMETER_COLOURS["nibp_sys"], theme.NIBP_PX)
        self.nibp_schedule = ElidedLabel("")
        self.nibp_schedule.setStyleSheet(f"color: {theme.TEXT}; font-size: 18px;")
        self.nibp.layout().addWidget(self.nibp_schedule)
        for tile in (self.hr, self.spo2, self.nibp):
            layout.addWidget(tile, 1)

    def tiles(self) -> tuple[NumericTile, ...]:
        """The tiles, top to bottom."""
        return (self.hr, self.spo2, self.nibp)

    def flash(self, elapsed_ms: int) -> None:
        """Advance every tile's alarm flash to the shared flash clock."""
        for tile in self.tiles():
            tile.flash(elapsed_ms)
