"""The course view: every session of one patient in a row, charts across the course, the next session due.

Opened from the session browser (the selected session's patient) and from the review window.
The figures come from :mod:`monitor.course`; exports go through :mod:`monitor.course_export`
and are audited like session exports.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from monitor.alarms.model import Priority
from monitor.app.errors import AppError
from monitor.app.exports import export_course, read_course
from monitor.app.stores import RecordSource
from monitor.course import BOOSTER, Course
from monitor.store import StoreError
from ui import theme
from ui.alarm_echo import AlarmFeed, add_alarm_echo
from ui.dialogs import SignedInUser

COLUMNS: tuple[tuple[str, str], ...] = (
    ("#", "number"), ("Date", "started_at"), ("Session", "session"), ("Protocol", "protocol"),
    ("mg/kg", "dose_mg_per_kg"), ("mg", "dose_mg"), ("Delivered mg", "delivered_mg"), ("Base BP", "base"),
    ("Peak BP", "peak"), ("Rise sys", "rise"), ("SpO2 min", "lowest_spo2"), ("Alarms H/M/L", "alarms"),
    ("MOAA/S min", "lowest_moaas"), ("CADSS max", "highest_cadss"), ("N/V", "nausea_vomiting"),
    ("Interventions", "interventions"), ("Recovery min", "recovery_to_discharge_min"), ("Aldrete", "aldrete"),
    ("PADSS", "padss"), ("PHQ-9", "phq9"), ("GAD-7", "gad7"), ("Status", "status"),
)


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def cell_texts(course: Course) -> list[list[str]]:
    """The table's text, row by row (what the screen shows)."""
    rows = []
    for r in course.rows:
        rise = "-" if r.rise_sys_mmhg is None else f"{r.rise_sys_mmhg:+.0f} ({r.rise_sys_percent:+.0f} %)"
        values = {
            "number": r.label + (" booster" if r.kind == BOOSTER else ""),
            "started_at": datetime.fromtimestamp(r.started_at).strftime("%Y-%m-%d %H:%M"),
            "session": r.which,
            "protocol": r.protocol,
            "dose_mg_per_kg": _num(r.dose_mg_per_kg, 2),
            "dose_mg": _num(r.dose_mg, 1),
            "delivered_mg": _num(r.delivered_mg, 1),
            "base": f"{_num(r.baseline_sys)}/{_num(r.baseline_dia)}",
            "peak": f"{_num(r.peak_sys)}/{_num(r.peak_dia)}",
            "rise": rise,
            "lowest_spo2": _num(r.lowest_spo2),
            "alarms": "/".join(str(r.alarms.get(p.label, 0)) for p in sorted(Priority, reverse=True)),
            "lowest_moaas": _num(r.lowest_moaas),
            "highest_cadss": _num(r.highest_cadss),
            "nausea_vomiting": "yes" if r.nausea_vomiting else "no",
            "interventions": "; ".join(r.interventions) or "-",
            "recovery_to_discharge_min": _num(r.recovery_to_discharge_min),
            "aldrete": "-" if r.aldrete is None else str(r.aldrete),
            "padss": "-" if r.padss is None else str(r.padss),
            "phq9": "-" if r.phq9 is None else f"{r.phq9} {r.phq9_band}",
            "gad7": "-" if r.gad7 is None else f"{r.gad7} {r.gad7_band}",
            "status": r.status,
        }
        rows.append([values[key] for _title, key in COLUMNS])
    return rows


def _day(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t).strftime("%Y-%m-%d")


def header_text(course: Course) -> str:
    """Whose course it is, the series done and the next session due; of records in conflict, no one person but
    each record on a line of its own, with its own count."""
    patient = course.patient or {}
    mrn = patient.get("mrn") or "-"
    series = f"{course.drug or ''} series {{}} of {course.plan.planned_sessions}, boosters {{}}"
    if not course.in_conflict:
        return (f"{patient.get('name') or ''}  MRN {mrn}  -  {series.format(course.series_done, course.boosters)}"
                f"  -  next session due {_day(course.next_due_at)}")
    lines = [f"MRN {mrn}: NOT ONE PERSON - {len(course.records)} records with different identities, each counted "
             "on its own"]
    lines += [f"Record {r.number}: {r.name or '(no name)'}, born {r.birth_date or '-'} - {r.where} - "
              f"{series.format(r.series_done, r.boosters)} - next session due {_day(r.next_due_at)}"
              for r in course.records]
    return "\n".join(lines)


#: At most this many session numbers under a course chart (every second one, or third, … beyond).
SESSION_TICKS = 12


class CourseWindow(QWidget):
    """A patient's course of treatment."""

    def __init__(self, source: RecordSource | str | Path, patient_id: str, user: SignedInUser,
                 parent: QWidget | None = None, *, alarm_feed: AlarmFeed | None = None) -> None:
        super().__init__(parent)
        self.source = RecordSource.of(source)
        self.db_path = self.source.db
        self.patient_id = patient_id
        self.user = user
        self.course: Course | None = None
        self.load_ms: float | None = None
        self.messages: list[str] = []
        self.setWindowTitle("Infusion Monitor - course of treatment")
        self.setStyleSheet(theme.STYLE_SHEET)
        theme.fit_to_screen(self, 1500, 900)  # at 1280x800 it stood past the screen's edges, its buttons below
        root = QVBoxLayout(self)
        # The chair's alarms, when opened from its live window.
        self.alarm_echo = add_alarm_echo(alarm_feed, self, root)
        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.header.setStyleSheet("font-size: 16px; font-weight: bold;")
        root.addWidget(self.header)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([title for title, _key in COLUMNS])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        root.addWidget(self.table, 1)
        charts = QHBoxLayout()
        self.rise_plot = pg.PlotWidget(title="BP rise per session (mmHg)")
        self.outcome_plot = pg.PlotWidget(title="PHQ-9 and GAD-7")
        self.cadss_plot = pg.PlotWidget(title="Dissociation (highest CADSS-6)")
        for plot in (self.rise_plot, self.outcome_plot, self.cadss_plot):
            plot.setMinimumHeight(220)
            plot.setLabel("bottom", "session")
            charts.addWidget(plot)
        root.addLayout(charts, 1)
        self.message = QLabel("")
        self.message.setStyleSheet(f"color: {theme.WARNING_TEXT}; font-weight: bold;")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        root.addWidget(self.message)
        buttons = QHBoxLayout()
        self.deidentify_box = QCheckBox("De-identified")
        self.export_buttons: dict[str, QPushButton] = {}
        for fmt, label in (("pdf", "PDF report"), ("csv", "CSV"), ("json", "JSON")):
            button = QPushButton(label)
            button.clicked.connect(lambda _checked=False, f=fmt: self.export(f))
            buttons.addWidget(button)
            self.export_buttons[fmt] = button
        buttons.addWidget(self.deidentify_box)
        buttons.addStretch(1)
        self.reload_button = QPushButton("Reload (F5)")
        self.reload_button.clicked.connect(self.reload)
        buttons.addWidget(self.reload_button)
        root.addLayout(buttons)
        #: Asks where to save an export (format, suggested name) -> path, or None when cancelled.
        self.choose_export_path = self._ask_export_path
        self.reload()

    def show_message(self, text: str) -> None:
        """Something the user must read."""
        self.messages.append(text)
        self.message.setText(text)

    def reload(self) -> None:
        """Read the course again and redraw."""
        started = time.perf_counter()
        try:
            self.course = read_course(self.source, patient_id=self.patient_id)
        except AppError as exc:
            self.show_message(f"Cannot read the course: {exc}")
            return
        self._fill(self.course)
        self.load_ms = (time.perf_counter() - started) * 1000
        self._audit_opened(self.course)

    def _audit_opened(self, course: Course) -> None:
        """Who read the patient's course (name, MRN, every session), in this computer's database, as a review or
        ``course`` from the command line is recorded; said when it could not be."""
        try:
            self.source.record_read("course_viewed", self.user.name, patient_key=course.patient_id,
                                    sessions=[row.session_id for row in course.rows])
        except StoreError as exc:
            self.show_message(f"Who opened this course could not be recorded: {exc}")

    def _fill(self, course: Course) -> None:
        self.header.setText(header_text(course))
        if course.warnings:  # the server holds the MRN with another identity: not silently one person's course
            self.show_message("\n".join(course.warnings))
        texts = cell_texts(course)
        self.table.setRowCount(len(texts))
        for row, values in enumerate(texts):
            for col, text in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        # Bars and points stand at each session's place in the list (a session without an infusion has no number).
        numbers = [float(place) for place in range(1, len(course.rows) + 1)]
        self.rise_plot.clear()
        self._bars(self.rise_plot, numbers, [r.rise_sys_mmhg for r in course.rows], "r")
        self.outcome_plot.clear()
        self.outcome_plot.addLegend()
        for attr, colour, name in (("phq9", "m", "PHQ-9"), ("gad7", "c", "GAD-7")):
            points = [(x, float(getattr(r, attr))) for x, r in zip(numbers, course.rows, strict=True)
                      if getattr(r, attr) is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                self.outcome_plot.plot(list(xs), list(ys), pen=colour, symbol="o", name=name)
        self.cadss_plot.clear()
        self._bars(self.cadss_plot, numbers, [r.highest_cadss for r in course.rows], "y")
        # The three charts on one axis of whole sessions (the axis's own ticks read "0.7 … 1.3" for one session).
        step = max(1, math.ceil(len(numbers) / SESSION_TICKS))
        ticks = [(x, f"{x:.0f}") for x in numbers[::step]]
        for plot in (self.rise_plot, self.outcome_plot, self.cadss_plot):
            plot.getAxis("bottom").setTicks([ticks, []])
            plot.setXRange(0.5, len(numbers) + 0.5, padding=0)

    @staticmethod
    def _bars(plot: pg.PlotWidget, numbers: list[float], values: list[float | None], brush: str) -> None:
        """A bar for each session with a value: one without (no cuff, no score) has none, where a bar of 0 read as a
        measured 0 (no dissociation, no rise)."""
        shown = [(x, float(v)) for x, v in zip(numbers, values, strict=True) if v is not None]
        if shown:
            xs, heights = zip(*shown, strict=True)
            plot.addItem(pg.BarGraphItem(x=list(xs), height=list(heights), width=0.6, brush=brush))

    def _ask_export_path(self, fmt: str, suggested: str) -> str | None:
        path, _filter = QFileDialog.getSaveFileName(self, f"Export course as {fmt.upper()}", suggested)
        return path or None

    def export(self, fmt: str) -> Path | None:
        """Write the course in a format where the user chooses, and audit it."""
        if self.course is None:
            return None
        chosen = self.choose_export_path(fmt, f"course.{fmt}")
        if not chosen:
            return None
        target = Path(chosen)
        try:
            export_course(self.source, self.course, fmt, path=target, deidentify=self.deidentify_box.isChecked(),
                          user=self.user.name, via="course window")
        except AppError as exc:
            self.show_message(f"The course was not exported: {exc}")
            return None
        return target
