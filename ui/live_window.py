"""The live monitor window: session header, large numerics and a whole-session trend chart."""

from __future__ import annotations

import math
import time
from collections import defaultdict

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QMainWindow, QVBoxLayout, QWidget

from monitor.readings import Parameter, Reading
from monitor.recorder import RecorderUpdate, SessionStatus
from ui.bridge import RecorderBridge
from ui.trend_buffer import TrendBuffer

COLOURS = {
    Parameter.HR: "#36c95f",
    Parameter.PR: "#36c95f",
    Parameter.SPO2: "#2fb8e6",
    Parameter.NIBP_SYS: "#e8e8e8",
    Parameter.NIBP_DIA: "#e8e8e8",
    Parameter.NIBP_MEAN: "#d0a030",
}


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    sign = "-" if seconds < 0 else ""
    s = abs(int(seconds))
    return f"{sign}{s // 60:02d}:{s % 60:02d}"


class NumericTile(QWidget):
    """A large value with its label and unit."""

    def __init__(self, label: str, unit: str, colour: str) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.title = QLabel(f"{label}  {unit}")
        self.title.setStyleSheet(f"color: {colour}; font-size: 16px;")
        self.value = QLabel("---")
        font = QFont()
        font.setPointSize(44)
        font.setBold(True)
        self.value.setFont(font)
        self.value.setStyleSheet(f"color: {colour};")
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.detail = QLabel("")
        self.detail.setStyleSheet("color: #bbbbbb; font-size: 14px;")
        layout.addWidget(self.title)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)

    def show_value(self, text: str, detail: str = "") -> None:
        """Update the number and the small line under it."""
        self.value.setText(text)
        self.detail.setText(detail)


class LiveWindow(QMainWindow):
    """Shows what the recorder produces; closing it closes the session cleanly."""

    def __init__(self, bridge: RecorderBridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.setWindowTitle("Infusion Monitor")
        self.resize(1600, 900)
        self.setStyleSheet("QMainWindow, QWidget { background: #101418; color: #e8e8e8; }")
        central = QWidget()
        root = QVBoxLayout(central)
        self.header = QLabel("connecting…")
        self.header.setStyleSheet("font-size: 20px; padding: 4px;")
        root.addWidget(self.header)
        body = QHBoxLayout()
        root.addLayout(body, stretch=1)

        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.setBackground("#101418")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend()
        self.plot.setYRange(30, 200)
        self.curves: dict[Parameter, pg.PlotDataItem] = {}
        for parameter, name in ((Parameter.HR, "HR"), (Parameter.SPO2, "SpO2"), (Parameter.NIBP_MEAN, "NIBP mean")):
            curve = self.plot.plot(name=name, pen=pg.mkPen(COLOURS[parameter], width=2))
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            self.curves[parameter] = curve
        self.nibp_sys = self.plot.plot(name="NIBP sys/dia", pen=None, symbol="t", symbolBrush=COLOURS[Parameter.NIBP_SYS])
        self.nibp_dia = self.plot.plot(pen=None, symbol="t1", symbolBrush=COLOURS[Parameter.NIBP_DIA])
        self.curves[Parameter.NIBP_SYS] = self.nibp_sys
        self.curves[Parameter.NIBP_DIA] = self.nibp_dia
        body.addWidget(self.plot, stretch=3)

        tiles = QGridLayout()
        self.hr_tile = NumericTile("HR", "/min", COLOURS[Parameter.HR])
        self.spo2_tile = NumericTile("SpO2", "%", COLOURS[Parameter.SPO2])
        self.nibp_tile = NumericTile("NIBP", "mmHg", COLOURS[Parameter.NIBP_SYS])
        tiles.addWidget(self.hr_tile, 0, 0)
        tiles.addWidget(self.spo2_tile, 1, 0)
        tiles.addWidget(self.nibp_tile, 2, 0)
        side = QWidget()
        side.setLayout(tiles)
        body.addWidget(side, stretch=1)
        self.setCentralWidget(central)

        self.buffers: dict[Parameter, TrendBuffer] = defaultdict(TrendBuffer)
        self.last_status: SessionStatus | None = None
        self.end_status: str | None = None
        bridge.updates.connect(self.on_updates)
        bridge.finished.connect(self.on_finished)

    # -- data ------------------------------------------------------------------------------

    def on_updates(self, batch: list[RecorderUpdate]) -> None:
        """Take one UI tick's worth of updates: extend buffers, redraw once."""
        grouped: dict[Parameter, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        for update in batch:
            for r in update.readings:
                if r.parameter is Parameter.PLETH:
                    continue
                times, values = grouped[r.parameter]
                times.append(r.t)
                values.append(math.nan if r.value is None else r.value)
        for parameter, (times, values) in grouped.items():
            self.buffers[parameter].extend(times, values)
        hr_param = Parameter.HR if self.buffers[Parameter.HR].n else Parameter.PR
        self.curves[Parameter.HR].setData(*self.buffers[hr_param].view(), connect="finite")
        for parameter in (Parameter.SPO2, Parameter.NIBP_MEAN, Parameter.NIBP_SYS, Parameter.NIBP_DIA):
            self.curves[parameter].setData(*self.buffers[parameter].view(), connect="finite")
        self.show_status(batch[-1].status)

    def show_status(self, status: SessionStatus) -> None:
        """Header and numerics from the newest status."""
        self.last_status = status
        latest: dict[Parameter, Reading] = {r.parameter: r for r in status.latest}
        hr = status.heart_rate
        self.hr_tile.show_value(_value(hr), "PR (pleth)" if hr is not None and hr.parameter is Parameter.PR else "")
        self.spo2_tile.show_value(_value(latest.get(Parameter.SPO2)))
        sys_r, dia_r, mean_r = (latest.get(p) for p in (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN))
        age = "" if status.nibp_age_s is None else f"{int(status.nibp_age_s // 60)} min ago"
        self.nibp_tile.show_value(f"{_value(sys_r)}/{_value(dia_r)}", f"({_value(mean_r)})  {age}")
        phase = status.phase.value.upper()
        if status.phase.value == "infusion":
            phase += f"  {_clock(status.infusion_elapsed_s)} of {status.infusion_plan_min:g} min"
        elif status.phase.value == "recovery":
            phase += f"  {_clock(status.recovery_remaining_s)} left"
        clock = time.strftime("%H:%M:%S", time.localtime(status.now))
        self.header.setText(
            f"{phase}   session {_clock(status.elapsed_s)}   {clock}   {status.device}   link {status.link.state}"
        )

    def on_finished(self, status: str) -> None:
        """The recorder ended (session complete, stopped, or failed)."""
        self.end_status = status
        self.header.setText(self.header.text() + f"   — session {status}")

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop recording cleanly: everything pending is flushed before the window goes."""
        self.bridge.stop()
        super().closeEvent(event)


def _value(reading: Reading | None) -> str:
    if reading is None or reading.value is None:
        return "---"
    return f"{reading.value:.0f}"
