"""The review window: one stored session as a physician reads it afterwards.

Top: who, when, how long, status, baseline and treatment (the dose planned and delivered), with the export
buttons. Middle: the whole session on the live view's trend chart (zoomable, no following) with the stored pleth
beneath it, alarm rings at each alarm's worst value and a cursor at the selected entry. Bottom, in tabs: the alarm
log, the timeline of events, notes, scores and addenda (selecting a row moves the chart to it), per-phase
statistics, the baseline against the end of recovery with the time to return within 20 %, the discharge scoring
and the cuff measurements.

Every figure comes from :mod:`monitor.review`, the treatment line from the exports' own
:mod:`monitor.exports.treatment`; this module only lays them out. A finished session is read-only: what is added
later is an addendum, signed and time-stamped, and audited. A physician signs off the record they reviewed
(Sign off…, Ctrl+Shift+S); the header names who signed it off, or that nobody has yet.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QFont, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from drivers.core.readings import Parameter
from monitor import chair, review, review_arrays, sign_off, text_rules
from monitor.alarms.model import AlarmRecord, AlarmState, Priority
from monitor.app.errors import AppError
from monitor.app.exports import export_session
from monitor.app.services import send_sign_off_to_server
from monitor.app.stores import RecordSource
from monitor.dose import DoseRange
from monitor.entered_in_error import superseded, superseded_text
from monitor.exports import SUFFIXES, ExportCancelled, ExportError
from monitor.exports.data import ExportOptions, SessionRecord
from monitor.exports.treatment import treatment_parts
from monitor.finished import FINISHED_STATUSES
from monitor.labels import PARAMETER_LABELS, code_words, event_label, plain_detail, pressure_text
from monitor.session import EventKind, Phase, SessionEvent, length_text
from monitor.store import SessionNotFound, StoreError
from monitor.wall_clock import clock_text
from ui import theme
from ui.alarm_echo import AlarmFeed, add_alarm_echo
from ui.dialogs import DialogHost, SignedInUser, TextDialog
from ui.labels import ElidedLabel, PartsLabel
from ui.plain_text import make_plain
from ui.session_text import phases_text
from ui.trend_chart import TrendChart

log = logging.getLogger(__name__)

EXPORT_FORMATS: tuple[tuple[str, str], ...] = (
    ("csv", "CSV"),
    ("json", "JSON"),
    ("hl7", "HL7 v2"),
    ("fhir", "FHIR"),
)


def _table_label(parameter: Parameter) -> str:
    """A parameter spelled out with its unit, as the statistics tables head their rows."""
    label = PARAMETER_LABELS[parameter]
    return f"{label.long}  {label.unit}"


# The alarm engine names heart rate by its rule parameter; the chart plots it with HR/PR.
ALARM_PLOT = {"heart_rate": "hr", "hr": "hr", "pr": "hr", "spo2": "spo2",
              "nibp_sys": "nibp", "nibp_dia": "nibp", "nibp_mean": "nibp"}
# Every cuff start is on the NIBP table already; listing them would bury the notes.
HIDDEN_EVENTS = frozenset({EventKind.NIBP_REQUESTED})
ADDENDUM_COLOUR = "#d8c8ff"
SIGN_OFF_COLOUR = "#9be7b0"
#: Entries written after the session ended, dated when written (shown with their date, in their own colour).
AFTER_THE_FACT = {EventKind.ADDENDUM: ADDENDUM_COLOUR, EventKind.SIGNED_OFF: SIGN_OFF_COLOUR}
SIGN_OFF_KEY = "Ctrl+Shift+S"
RING_SIZE = {Priority.LOW: 16, Priority.MEDIUM: 20, Priority.HIGH: 26}
RING_PEN_PX = 3
# The dark theme leaves a check box's square nearly invisible.
CHECKBOX_STYLE = """
QCheckBox::indicator { width: 16px; height: 16px; border: 1px solid #8a97a5; border-radius: 3px;
                       background: #0f151b; }
QCheckBox::indicator:checked { background: #4cb8ff; border-color: #4cb8ff; }
"""
CURSOR_COLOUR = "#ffffff"
#: A selection shows at least this many seconds around it.
MIN_FOCUS_S = 600.0
#: An export running longer than this shows a progress indicator.
PROGRESS_AFTER_MS = 1000
#: What ``export_finished`` reports as the error of an export that was cancelled.
EXPORT_CANCELLED = "cancelled"

STATUS_BADGE = {
    "complete": ("COMPLETE · read-only — later notes are addenda", "#333f4a"),
    "closed": ("CLOSED AFTER A CRASH · read-only — later notes are addenda", "#4a3a00"),
    "closed_in_window": ("CLOSED BEFORE COMPLETION · read-only — later notes are addenda", "#4a3a00"),
    "recording": ("RECORDING NOW · a snapshot — Reload (F5) for newer data", "#1f5f99"),
    "unfinished": ("UNFINISHED · resume or close it from the session list", "#7a5a00"),
}


@contextlib.contextmanager
def collector_paused() -> Any:
    """Hold Python's cycle collector while a session loads.

    Loading allocates tens of thousands of small objects (one per stored reading) and none of
    them form cycles; the collections those allocations trigger walk every live object of the
    window too and cost more than the rest of the load. They run at the next allocation after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def clock(t: float | None, *, date: bool = False) -> str:
    """Local wall-clock time of an epoch time (its zone named in an hour the clock showed twice)."""
    if t is None:
        return ""
    return clock_text(t, "%Y-%m-%d %H:%M" if date else "%H:%M:%S")


def number(value: float | None, unit: str = "") -> str:
    """A figure as the table shows it (empty when there is none)."""
    if value is None:
        return "—"
    # Whole numbers as a nurse reads a monitor; a fraction only where the figure is small (e.g. 0.5).
    return f"{value:.0f}{unit}" if abs(value) >= 10 else f"{value:.1f}{unit}".replace(".0", "")


def duration(seconds: float | None) -> str:
    """``m:ss`` for a span of seconds."""
    if seconds is None:
        return "—"
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d} min"


def _devices_words(record: SessionRecord) -> str:
    """Every device the session used, for the header: "device X", or "devices X, then Y" after a change."""
    used = record.devices_used()
    if len(used) < 2:
        s = record.session
        return f"device {s.get('device') or s.get('driver') or '—'}"
    return "devices " + ", then ".join(use.device for use in used)


def event_detail(event: SessionEvent, superseded_by: SessionEvent | None = None,
                 dose: DoseRange | None = None, phase_words: Mapping[Phase, str] | None = None) -> str:
    """What an entry of the timeline says, in one line (``superseded_by``: the correction of an entry in error, which
    the line names; ``dose``: the protocol's dose range, so a fixed dose reads without mg/kg as on the chart;
    ``phase_words``: what the protocol calls its phases, so a nasal spray's stop reads "of dosing")."""
    detail = dict(event.detail)
    kind = event.kind
    entry = chair.entry_text(event, dose)
    if entry is not None:
        if superseded_by is not None:
            entry += f"   ({superseded_text(superseded_by, clock(superseded_by.t))})"
        return entry
    if kind in (EventKind.NOTE, EventKind.QUICK_EVENT, EventKind.SCORE, EventKind.ADDENDUM):
        text = review.addendum_text(event)
        if superseded_by is not None:
            text += f"   ({superseded_text(superseded_by, clock(superseded_by.t))})"
        if kind is EventKind.ADDENDUM and detail.get("refers_to_at") is not None:
            text += f"   (about {clock(float(detail['refers_to_at']))})"
        return text
    if kind is EventKind.SIGNED_OFF:
        return str(detail.get("comment") or "reviewed, no comment")
    if kind is EventKind.BASELINE_TAKEN and detail:
        try:
            return (f"HR {detail['heart_rate']:.0f} · SpO2 {detail['spo2']:.0f} % · "
                    f"NIBP {pressure_text(detail['nibp_sys'], detail['nibp_dia'], detail['nibp_mean'])}")
        except (KeyError, TypeError, ValueError):
            pass
    if kind is EventKind.DISCHARGE_SCORED:
        parts = []
        for key in ("aldrete", "padss"):
            score = detail.get(key)
            if isinstance(score, dict):
                parts.append(f"{score.get('name', key)} {score.get('total')}/{score.get('maximum')}")
        verdict = "criteria met" if detail.get("passed") else "criteria NOT met"
        return " · ".join(parts) + f" — {verdict}"
    if kind is EventKind.INFUSION_STOPPED and isinstance(detail.get("infused_min"), int | float):
        delivery = (phase_words or {}).get(Phase.INFUSION, "infusion")
        return f"after {detail['infused_min']:.0f} min of {delivery}"
    if kind is EventKind.DEVICE_CHANGED:
        return f"{detail.get('previous_device', '?')} → {detail.get('device', '?')}"
    if kind is EventKind.SESSION_RESUMED and detail.get("gap_s") is not None:
        on = detail.get("device") or detail.get("driver")
        return f"gap {duration(float(detail['gap_s']))}" + (f" · on {on}" if on else "")
    return plain_detail(detail)


def _table(columns: Sequence[str], stretch: int | None = None, *, stretch_last: bool = True) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    theme.read_only_rows(table)
    table.setWordWrap(False)
    # Columns are sized once after filling (_fill): "resize to contents" as a mode would measure
    # every column again at each cell set.
    header = table.horizontalHeader()
    if stretch is not None:
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    else:
        header.setStretchLastSection(stretch_last)
    return table


def _cell(text: str, *, right: bool = False, colour: str | None = None, bold: bool = False,
          italic: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if colour:
        item.setForeground(QBrush(QColor(colour)))
    if bold or italic:
        font = QFont()
        font.setBold(bold)
        font.setItalic(italic)
        item.setFont(font)
    return item


def _fill(table: QTableWidget, rows: Sequence[Sequence[QTableWidgetItem | str]]) -> None:
    table.setUpdatesEnabled(False)
    table.clearSelection()
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, value if isinstance(value, QTableWidgetItem) else _cell(value))
    table.resizeColumnsToContents()
    table.setUpdatesEnabled(True)


class AddendumDialog(TextDialog):
    """An addendum's text, optionally about the moment selected in the review."""

    def __init__(self, parent: QWidget | None, user: SignedInUser, about: float | None) -> None:
        super().__init__(
            parent, "Addendum",
            f"Addendum to the finished record, signed {user.label}, dated now. The recorded data do not change.",
            multiline=True,
        )
        self.about_box = QCheckBox(f"About the selected moment ({clock(about)})" if about is not None else "")
        self.about_box.setChecked(about is not None)
        self.about_box.setVisible(about is not None)
        self.layout().insertWidget(2, self.about_box)
        self.about = about

    def refers_to(self) -> float | None:
        """The moment the addendum is about, when the box is ticked."""
        return self.about if self.about is not None and self.about_box.isChecked() else None


class SignOffDialog(TextDialog):
    """A physician's sign-off of the record reviewed, with an optional short comment."""

    def __init__(self, parent: QWidget | None, user: SignedInUser) -> None:
        super().__init__(
            parent, "Sign off",
            f"Sign off this session's record (vitals, alarms, interventions, discharge) as reviewed, signed "
            f"{user.label}, dated now. A comment is optional; the recorded data do not change.",
        )
        # Wrapped: on one line the prompt made the dialog 1344 px wide, its Cancel off a 1280-pixel-wide screen.
        self.prompt.setWordWrap(True)
        self.editor.setMaxLength(sign_off.MAX_COMMENT_CHARS)  # type: ignore[union-attr]
        self.editor.setPlaceholderText("Comment (optional)")


def sign_off_words(signed: Sequence[sign_off.SignOff]) -> str:
    """The header's line: who signed the session off, when, with what comment; or that nobody has yet."""
    if not signed:
        return "Not signed off by a physician yet"
    parts = []
    for index, s in enumerate(signed):
        said = f"{'Signed off' if index == 0 else 'co-signed'} by {s.signer} at {clock(s.t, date=True)}"
        parts.append(said + (f": “{s.comment}”" if s.comment else ""))
    return " · ".join(parts)


def _event_name(kind: EventKind, phase_words: Mapping[Phase, str]) -> str:
    """An event's name in the events table; a phase step's after the phase as the protocol calls it. What was
    written after the session ended is named in capitals: it stands out from the record it was added to."""
    label = event_label(kind, phase_words)
    return label.upper() if kind in AFTER_THE_FACT else label


class ReviewWindow(DialogHost, QMainWindow):
    """A stored session for review, addenda and exports."""

    #: An export ended: format, file, error text ("" when it worked).
    export_finished = Signal(str, str, str)
    #: Something was written to the session (an addendum): lists of sessions may refresh.
    sessions_changed = Signal()
    _export_done = Signal(str, str, str)
    _export_read = Signal(int, int)  # readings read so far, readings of the session
    _record_checked = Signal(str, str)  # session id, what the check of its record found
    _server_answered = Signal(str, bool)  # what the clinic's server said to a sign-off sent to it, whether it failed

    def __init__(
        self,
        source: RecordSource | str | Path,
        session_id: str,
        user: SignedInUser,
        parent: QWidget | None = None,
        *,
        on_sessions: Callable[[], None] | None = None,
        alarm_feed: AlarmFeed | None = None,
    ) -> None:
        super().__init__(parent)
        self.source = RecordSource.of(source)
        self.db_path = self.source.db
        self.user = user
        self.requested_id = session_id
        self.record: SessionRecord | None = None
        self.dialog: QDialog | None = None
        self.messages: list[str] = []
        self.load_ms: float | None = None
        self._alarm_rows: list[AlarmRecord] = []
        self._event_rows: list[SessionEvent] = []
        self._export_threads: list[threading.Thread] = []
        self._check_threads: list[threading.Thread] = []
        #: Sends the last sign-off to the clinic's server (None: none was sent from this window).
        self.server_thread: threading.Thread | None = None
        self._ranges: Any = None
        self._arrays: dict[Parameter, Any] = {}
        #: Asks where to save an export (format, suggested name) -> path, or None when cancelled.
        self.choose_export_path: Callable[[str, str], str | None] = self._ask_export_path

        self.setWindowTitle("Infusion Monitor — review")
        self.setStyleSheet(theme.STYLE_SHEET + CHECKBOX_STYLE)
        theme.fit_to_screen(self, 1500, 860)  # a 1600x900 screen with its panel; smaller ones shrink it
        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(8, 6, 8, 6)
        root.setSpacing(6)
        #: The chair's alarms, when opened from its live window (through the session browser).
        self.alarm_feed = alarm_feed
        self.alarm_echo = add_alarm_echo(alarm_feed, self, root)
        root.addWidget(self._build_header())
        # Messages float over the chart's lower edge: they never push the toolbar down under a click.
        self.message = theme.floating_message(
            central, "padding: 4px 8px; border: 1px solid #806000; border-radius: 4px;"
        )

        self.chart = TrendChart(live=False)
        self.chart.marker_step = 0.14  # the review's plots are shorter than the live window's
        self.chart.marker_room_px = max(RING_SIZE.values()) / 2 + RING_PEN_PX  # the largest alarm ring is whole
        root.addLayout(self._build_toolbar())
        # Tab goes from Addendum… to Sign off… as before it moved to the header; the window no longer opens with the
        # sign-off focused either.
        QWidget.setTabOrder(self.addendum_button, self.sign_off_button)
        self.chart_note = QLabel(
            "Rings: alarms at their worst value · dotted lines: notes, scores, events · select a row to go to it"
        )
        self.chart_note.setObjectName("dim")
        self.chart_note.setWordWrap(True)
        self.chart_note.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.chart_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.span_label = QLabel("")
        self.span_label.setStyleSheet("font-weight: bold;")
        chart_box = QWidget()
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.addWidget(self.chart, 1)
        note_row = QHBoxLayout()
        note_row.addWidget(self.span_label)
        note_row.addWidget(self.chart_note, 1)
        chart_layout.addLayout(note_row)
        self.chart.plots["hr"].getViewBox().sigXRangeChanged.connect(self._show_span)
        self.tabs = self._build_tabs()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(chart_box)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 62)
        splitter.setStretchFactor(1, 38)
        splitter.setSizes([590, 330])
        root.addWidget(splitter, 1)
        self.setCentralWidget(central)
        # Patient, staff and device text is shown literally; only the alarm counts are styled.
        make_plain(self, keep_rich=(self.alarm_summary,))

        self._cursor_items: list[tuple[pg.PlotItem, pg.InfiniteLine, pg.LinearRegionItem]] = []
        self._nibp_rows: list[review.NibpMeasurement] = []
        self._alarm_marks: list[tuple[pg.PlotItem, pg.ScatterPlotItem]] = []
        self.on_sessions = on_sessions
        self.sessions_button.setVisible(on_sessions is not None)
        if on_sessions is not None:
            self.sessions_button.clicked.connect(on_sessions)
        self._export_done.connect(self._export_settled)
        self._export_read.connect(self._export_advanced)
        self._record_checked.connect(self._record_verified)
        self._server_answered.connect(lambda text, failed: self.show_message(text, warning=failed))
        # Floating over the chart's top edge (nothing moves): the bar and a button that cancels the export.
        self.export_panel = QFrame(central)
        panel_row = QHBoxLayout(self.export_panel)
        panel_row.setContentsMargins(0, 0, 0, 0)
        panel_row.setSpacing(6)
        self.export_progress = QProgressBar(self.export_panel)
        self.export_progress.setRange(0, 0)  # busy until the number of readings is known
        self.export_progress.setTextVisible(True)
        self.export_progress.setFixedSize(320, 26)
        self.export_cancel = QPushButton("Cancel export", self.export_panel)
        self.export_cancel.setFixedHeight(26)
        self.export_cancel.clicked.connect(self.cancel_export)
        panel_row.addWidget(self.export_progress)
        panel_row.addWidget(self.export_cancel)
        self.export_panel.adjustSize()
        self.export_panel.setVisible(False)
        self._export_cancelled = threading.Event()
        self._export_label = ""
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.timeout.connect(self._show_progress)
        shortcuts: list[tuple[str, Callable[[], object]]] = [
            ("Home", self.show_whole_session),
            ("Ctrl+N", self.add_addendum),
            # Two modifiers: nothing typed into a field, and no single key, signs a record off.
            (SIGN_OFF_KEY, self.ask_sign_off),
            ("Ctrl+P", lambda: self.export("pdf")),
            ("F5", self.reload),
        ]
        for key, slot in shortcuts:
            QShortcut(QKeySequence(key), self, activated=slot)
        self.reload()

    # -- construction ------------------------------------------------------------------------------

    def _build_header(self) -> QFrame:
        panel = QFrame()
        panel.setObjectName("panel")
        layout = QHBoxLayout(panel)
        layout.setContentsMargins(10, 6, 10, 6)
        text = QVBoxLayout()
        # One line each, cut with "…" when too long (the whole text on hover), but the treatment: what a physician
        # signs off is never cut (at 1280 px it lost all after the plan's mg/kg), it takes a second line.
        self.patient_label = ElidedLabel("")
        self.patient_label.setStyleSheet("font-size: 20px; font-weight: bold;")
        self.session_label = ElidedLabel("")
        self.baseline_label = ElidedLabel("")
        self.treatment_label = PartsLabel()
        self.sign_off_label = ElidedLabel("")
        for label in (self.patient_label, self.session_label, self.baseline_label, self.treatment_label,
                      self.sign_off_label):
            text.addWidget(label)
        layout.addLayout(text, 1)
        side = QVBoxLayout()
        self.status_badge = QLabel("")
        self.status_badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status_badge.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        side.addWidget(self.status_badge)
        self.alarm_summary = QLabel("")
        self.alarm_summary.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.alarm_summary.setStyleSheet("font-size: 16px;")
        side.addWidget(self.alarm_summary)
        side.addStretch(1)
        # Level with the sign-off line, in room the header has anyway: in the toolbar it made the window 1354 px
        # wide, more than a 1280-pixel-wide screen. The key is in the tooltip.
        self.sign_off_button = QPushButton("Sign off…")
        self.sign_off_button.clicked.connect(self.ask_sign_off)
        side.addWidget(self.sign_off_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addLayout(side)
        return panel

    def _build_toolbar(self) -> QHBoxLayout:
        """Addendum and export buttons, then (taken over from the chart) the view state and Whole session."""
        buttons = QHBoxLayout()
        self.addendum_button = QPushButton("Addendum… (Ctrl+N)")
        self.addendum_button.clicked.connect(self.add_addendum)
        self.pdf_button = QPushButton("PDF report (Ctrl+P)")
        self.pdf_button.setObjectName("primary")
        self.pdf_button.clicked.connect(lambda: self.export("pdf"))
        buttons.addWidget(self.addendum_button)
        buttons.addWidget(self.pdf_button)
        self.export_buttons: dict[str, QPushButton] = {"pdf": self.pdf_button}
        for fmt, label in EXPORT_FORMATS:
            button = QPushButton(label)
            button.setToolTip(f"Export the session as {label}")
            button.clicked.connect(lambda _checked=False, f=fmt: self.export(f))
            buttons.addWidget(button)
            self.export_buttons[fmt] = button
        self.deidentify_box = QCheckBox("De-identified")
        self.deidentify_box.setToolTip(
            "Leave out name, MRN, birth date, device serials and staff names; times on a session-relative clock"
        )
        buttons.addWidget(self.deidentify_box)
        self.reload_button = QPushButton("Reload (F5)")
        self.reload_button.clicked.connect(self.reload)
        self.sessions_button = QPushButton("Sessions…")
        self.course_button = QPushButton("Course…")
        self.course_button.setToolTip("Every session of this patient, side by side")
        self.course_button.clicked.connect(self.open_course)
        buttons.addWidget(self.course_button)
        buttons.addWidget(self.reload_button)
        buttons.addWidget(self.sessions_button)
        # The chart's own bar would take a row of its own for one line of text and a button. The text is cut
        # (whole on hover) so the buttons always fit a 1280-pixel-wide screen.
        self.chart.view_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        buttons.addWidget(self.chart.view_label, 1)
        buttons.addWidget(self.chart.live_button)
        return buttons

    def open_course(self) -> QWidget | None:
        """The course of this session's patient (None, with a message, when no patient was identified)."""
        from ui.course_window import CourseWindow

        patient_id = None if self.record is None else self.record.session.get("patient_id")
        if not patient_id:
            self.show_message("This session has no patient: identify the patient to see a course.")
            return None
        self.course_window = CourseWindow(self.source, patient_id, self.user, alarm_feed=self.alarm_feed)
        self.course_window.show()
        return self.course_window

    def _build_tabs(self) -> QTabWidget:
        tabs = QTabWidget()
        self.alarm_table = _table(
            ("Priority", "Condition", "Start", "End", "Worst", "Limit", "Acknowledged by", "Acknowledged at",
             "Message"), stretch=8,
        )
        self.event_table = _table(("Time", "Phase", "Entry", "Detail", "By"), stretch=3)
        self.stats_table = _table(("Phase", "Parameter", "Values", "Min", "Max", "Mean", "Median"), stretch_last=False)
        self.baseline_table = _table(
            ("Parameter", "Baseline", "End of recovery", "Change", "Change %", "20 % band",
             "Back within 20 % after infusion stop"), stretch=6,
        )
        self.discharge_table = _table(("Score", "Item", "Points", "Basis"), stretch=3)
        self.nibp_table = _table(("Time", "Phase", "Systolic", "Diastolic", "Mean", "Status"), stretch_last=False)
        self.alarm_table.itemSelectionChanged.connect(self._alarm_selected)
        self.event_table.itemSelectionChanged.connect(self._event_selected)
        self.nibp_table.itemSelectionChanged.connect(self._nibp_selected)
        baseline_page = QWidget()
        baseline_layout = QVBoxLayout(baseline_page)
        baseline_layout.setContentsMargins(0, 0, 0, 0)
        baseline_layout.addWidget(self.baseline_table, 1)
        note = QLabel(
            "End of recovery: median of the last minute for heart rate and SpO2, the last cuff value for NIBP. "
            "Back within 20 %: start of the last stretch inside the band, counted from the infusion stop "
            "(heart rate on a 30-second running median)."
        )
        note.setObjectName("dim")
        note.setWordWrap(True)
        baseline_layout.addWidget(note)
        discharge_page = QWidget()
        discharge_layout = QVBoxLayout(discharge_page)
        discharge_layout.setContentsMargins(0, 0, 0, 0)
        self.discharge_label = QLabel("")
        self.discharge_label.setWordWrap(True)
        self.discharge_label.setStyleSheet("font-size: 16px; padding: 4px;")
        discharge_layout.addWidget(self.discharge_label)
        discharge_layout.addWidget(self.discharge_table, 1)
        tabs.addTab(self.alarm_table, "Alarms")
        tabs.addTab(self.event_table, "Events, notes and scores")
        tabs.addTab(self.stats_table, "Phase statistics")
        tabs.addTab(baseline_page, "Baseline → end of recovery")
        tabs.addTab(discharge_page, "Discharge")
        tabs.addTab(self.nibp_table, "NIBP")
        return tabs

    # -- loading -----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the session from the store and show all of it (raises StoreError when it cannot)."""
        started = time.perf_counter()
        with collector_paused():
            self._load()
        self.load_ms = (time.perf_counter() - started) * 1000.0

    def _load(self) -> None:
        keep_tab = self.tabs.currentIndex()
        try:
            with self.source.open() as store:
                # Events, alarms and cuff values as objects; every trend as arrays (a day-long session opens
                # in about a second: no Python object per reading).
                # The record's verification runs after the window has painted (_check_record).
                record, arrays = review_arrays.load_for_review(
                    store, self.record.id if self.record is not None else self.requested_id, verify=False
                )
                has_pleth = review_arrays.has_waveform(store, record.id)
        except SessionNotFound:
            raise
        except StoreError as exc:
            if self.record is None:
                raise
            self.show_message(f"The session cannot be read again: {exc}")
            return
        if self.record is None:
            self._audit_opened(record.id)
        self.record = record
        self._arrays = arrays
        self._show_header(record)
        self._check_record()
        self._show_alarms(record.alarms)
        self._show_events(record)
        self._show_statistics(record)
        self._show_baseline(record)
        self._show_discharge(record)
        self._show_nibp(record)
        self._show_chart(record, arrays, has_pleth)
        self.tabs.setCurrentIndex(max(keep_tab, 0))

    def _audit_opened(self, session_id: str) -> None:
        """Who opened which session, in this computer's database (also for a session read from the server)."""
        try:
            self.source.record_read("session_reviewed", self.user.name, session_id=session_id)
        except StoreError as exc:
            self.show_message(f"Who opened this session could not be recorded: {exc}")

    def _check_record(self) -> None:
        """Verify the session's record (hash chains) on a worker thread; the header says so when done.

        A day-long record takes about a second to check: the window is shown, painted and usable meanwhile,
        and the header says "checking the record…" until the answer comes.
        """
        if self.record is None:
            return
        session_id, source = self.record.id, self.source

        def check() -> None:
            from monitor.exports.data import verification_text

            try:
                with source.open() as store:
                    text = verification_text(store, session_id)
            except StoreError as exc:
                text = f"NOT VERIFIED: {exc}"
            except Exception as exc:  # the header must never keep saying "checking" after a failure
                log.exception("checking the record failed")
                text = f"NOT VERIFIED: the check failed ({exc})"
            with contextlib.suppress(RuntimeError):  # the window went first
                self._record_checked.emit(session_id, text)

        thread = threading.Thread(target=check, name="record-check", daemon=True)
        self._check_threads.append(thread)
        thread.start()

    def _record_verified(self, session_id: str, text: str) -> None:
        if self.record is None or self.record.id != session_id:
            return
        self.record = replace(self.record, verification=text)
        self.session_label.setText(self.session_label.text().replace("checking the record…", text))

    def _show_header(self, record: SessionRecord) -> None:
        s = record.session
        patient = record.patient or {}
        who = [str(patient["name"])] if patient.get("name") else []
        if patient.get("mrn"):
            who.append(f"MRN {patient['mrn']}")
        if patient.get("birth_date"):
            who.append(f"born {patient['birth_date']}")
        self.patient_label.setText(" · ".join(who) or "Patient not entered")
        self.setWindowTitle(f"Review — {patient.get('mrn') or 'no MRN'} — {clock(record.started_at, date=True)}")
        ended = s.get("ended_at")
        last_data = review_arrays.last_data_from_arrays(record, self._arrays) or record.started_at
        length = (float(ended) if ended is not None else last_data) - record.started_at
        phases = json.loads(s.get("phases_reached") or "[]")
        nurses = sorted({e.user for e in record.events if e.user} | ({s["nurse"]} if s.get("nurse") else set()))
        reached = phases_text(phases, record.phase_words)
        self.session_label.setText(
            f"Started {clock(record.started_at, date=True)} · {length_text(length)} · {reached} · "
            f"staff {', '.join(nurses) or '—'} · {_devices_words(record)} · "
            f"session {record.id[:8]} · alarm profile {record.alarm_profile} · "
            f"{record.verification or 'checking the record…'}"
        )
        baseline = review.session_baseline(record)
        counts = {p: sum(1 for a in record.alarms if a.priority is p) for p in Priority}
        acknowledged = sum(1 for a in record.alarms if a.acknowledged_at is not None)
        parts = [
            f"<b style='color:{theme.ALARM_COLOURS[p]}'>{p.marker} {counts[p]} {p.name.lower()}</b>"
            for p in sorted(Priority, reverse=True)
        ]
        self.alarm_summary.setText(f"Alarms: {' · '.join(parts)} · {acknowledged} acknowledged")
        if baseline is not None:
            hr_name = PARAMETER_LABELS[baseline.heart_rate_parameter].short
            # The phase's medians, set when it ended: "Baseline (09:47:10)" read as values measured then.
            base_text = (f"Baseline (medians, set {clock(baseline.taken_at)}): "
                         f"{hr_name} {baseline.heart_rate:.0f} /min · SpO2 {baseline.spo2:.0f} % · "
                         f"NIBP {pressure_text(baseline.nibp_sys, baseline.nibp_dia, baseline.nibp_mean)} mmHg")
        else:
            base_text = "No baseline was taken"
        self.baseline_label.setText(base_text)
        # The exports' own dose figures, so the window and the JSON, HL7, FHIR and PDF never disagree.
        self.treatment_label.set_parts(treatment_parts(record))
        stored = str(s.get("status"))
        status = stored
        if status == "closed" and any(e.kind is EventKind.SESSION_CLOSED for e in record.events):
            status = "closed_in_window"  # ended deliberately from its window, not after a crash
        text, colour = STATUS_BADGE.get(status, (status.upper(), "#333"))
        self.status_badge.setText(text)
        self.status_badge.setStyleSheet(
            f"background: {colour}; border: 1px solid #888; border-radius: 5px; font-size: 15px; "
            "font-weight: bold; padding: 4px 10px;"
        )
        # By the stored status: a session closed in its window is as finished as one closed after a crash (judged
        # by its badge's name, it took no addendum nor sign-off from here).
        finished = stored in FINISHED_STATUSES
        self.addendum_button.setEnabled(finished and not self.source.from_server)
        if self.source.from_server:
            tip = ("Read from the clinic's server (read-only): addenda are written at the chair that recorded "
                   "the session")
        elif finished:
            tip = "Add a signed, dated addendum; the record itself stays as it was"
        else:
            tip = "Only a finished session takes addenda; notes on a running session go in from the live window"
        self.addendum_button.setToolTip(tip)
        self._show_sign_offs(record, finished)

    def _show_sign_offs(self, record: SessionRecord, finished: bool) -> None:
        """The header's sign-off line, and whether this reviewer may sign off now (the button's tip says why not)."""
        signed = sign_off.sign_offs(record.events)
        waiting = finished and not signed
        self.sign_off_label.setText(sign_off_words(signed) if signed or finished else
                                    "Not signed off: a session is signed off once its recording has ended")
        self.sign_off_label.setStyleSheet(f"color: {theme.WARNING_TEXT if waiting else SIGN_OFF_COLOUR};"
                                          if waiting or signed else "")
        refused = sign_off.refusal_for_role(self.user.name, self.user.role)
        if self.source.from_server:
            refused = ("Read from the clinic's server (read-only): a session is signed off at the chair that "
                       "recorded it")
        elif not finished:
            refused = "Only a finished session can be signed off: this one is still being recorded, or left unfinished"
        elif refused is None and any(text_rules.same_name(s.by, self.user.name) for s in signed):
            refused = f"{self.user.name} signed this session off already; another physician may co-sign it"
        self.sign_off_button.setEnabled(refused is None)
        self.sign_off_button.setToolTip(
            refused[:1].upper() + refused[1:] if refused else
            f"Sign off the record as reviewed, or co-sign another physician's sign-off ({SIGN_OFF_KEY})")

    def _show_alarms(self, alarms: Sequence[AlarmRecord]) -> None:
        self._alarm_rows = sorted(alarms, key=lambda a: a.started_at)
        rows = []
        for a in self._alarm_rows:
            prio_text, colour = f"{a.priority.marker} {a.priority.label}", theme.ALARM_COLOURS[a.priority]
            rows.append([
                _cell(prio_text, colour=colour, bold=True),
                a.condition.replace("_", " "),
                clock(a.started_at),
                clock(a.ended_at) or ("still active" if a.state is not AlarmState.ENDED else ""),
                _cell(number(a.peak_value), right=True),
                _cell(number(a.limit), right=True),
                a.acknowledged_by or ("—" if a.acknowledged_at is None else "?"),
                clock(a.acknowledged_at) or "not acknowledged",
                a.message,
            ])
        _fill(self.alarm_table, rows)
        self.tabs.setTabText(0, f"Alarms ({len(rows)})")

    def _show_events(self, record: SessionRecord) -> None:
        self._event_rows = sorted((e for e in record.events if e.kind not in HIDDEN_EVENTS), key=lambda e: e.t)
        words = record.phase_words
        rows = []
        replaced = superseded(self._event_rows)
        dose = None if record.protocol is None else record.protocol.dose
        for index, e in enumerate(self._event_rows):
            later = e.kind in AFTER_THE_FACT
            colour = AFTER_THE_FACT.get(e.kind)
            by = e.user or ""
            if later and e.detail.get("role"):
                by += f" ({e.detail['role']})"
            # The physician who signed off attested the record without what an addendum added afterwards.
            when = "after sign-off" if sign_off.after_sign_off(e) else "after completion"
            rows.append([
                _cell(clock(e.t, date=True) if later else clock(e.t), colour=colour, italic=later),
                _cell(when if later else words[e.phase], colour=colour, italic=later),
                _cell(_event_name(e.kind, words), colour=colour, bold=later),
                _cell(event_detail(e, replaced.get(index), dose, words), colour=colour, italic=later),
                _cell(by, colour=colour),
            ])
        _fill(self.event_table, rows)
        addenda = sum(1 for e in self._event_rows if e.kind is EventKind.ADDENDUM)
        self.tabs.setTabText(1, f"Events, notes and scores ({len(rows)})"
                             + (f" · {addenda} addend{'a' if addenda != 1 else 'um'}" if addenda else ""))

    def _show_statistics(self, record: SessionRecord) -> None:
        rows = []
        previous: Phase | None = None
        for s in review_arrays.phase_statistics_from_arrays(record, self._arrays):
            if s.parameter is Parameter.PR and s.count == 0 and previous is s.phase:
                continue  # no pulse rate recorded (an ECG gave the heart rate): an empty row says nothing
            first = s.phase is not previous
            previous = s.phase
            rows.append([
                _cell(record.phase_label(s.phase) if first else "", bold=True),
                _table_label(s.parameter),
                _cell(str(s.count), right=True),
                *(_cell(number(v), right=True) for v in (s.minimum, s.maximum, s.mean, s.median)),
            ])
        _fill(self.stats_table, rows)

    def _show_baseline(self, record: SessionRecord) -> None:
        comparisons = review_arrays.baseline_vs_end_of_recovery_from_arrays(record, self._arrays)
        returns = {r.parameter: r for r in review_arrays.return_to_baseline_from_arrays(record, self._arrays)}
        rows = []
        for c in comparisons:
            back = returns.get(c.parameter)
            if back is None:
                band, when = "", ""
            elif back.band is None:
                band, when = "—", "no baseline or no infusion stop"
            else:
                band = f"{back.band[0]:.0f}–{back.band[1]:.0f}"
                if back.returned:
                    when = "never left the band" if back.seconds == 0 else f"after {duration(back.seconds)}"
                else:
                    when = "NOT back by the end of the session"
            colour = theme.WARNING_TEXT if back is not None and back.band is not None and not back.returned else None
            rows.append([
                _table_label(c.parameter),
                _cell(number(c.baseline), right=True),
                _cell(number(c.end_of_recovery), right=True),
                _cell(number(c.change), right=True),
                _cell(number(c.change_percent, " %"), right=True),
                _cell(band, right=True),
                _cell(when, colour=colour, bold=colour is not None),
            ])
        _fill(self.baseline_table, rows)

    def _show_discharge(self, record: SessionRecord) -> None:
        scoring = review.discharge_scoring(record)
        if scoring is None:
            self.discharge_label.setText("Discharge was not scored in this session.")
            _fill(self.discharge_table, [])
            return
        verdict = ("discharge criteria met" if scoring.passed
                   else "discharge criteria NOT met: " + "; ".join(scoring.reasons))
        # A discharge completed over what was not ready says so, with its reason, under the verdict.
        overridden = [
            f"Completed although not ready ({'; '.join(o.overridden) or 'see the events'}) — "
            f"reason: “{o.reason}” ({o.user or '—'} at {clock(o.t)})"
            for o in review.overrides(record) if o.step is EventKind.SESSION_COMPLETED
        ]
        # Plain text (the scorer's name is user text); the verdict's colour is the label's.
        good = scoring.passed and not overridden
        self.discharge_label.setStyleSheet(f"color: {'#3ddc6a' if good else theme.WARNING_TEXT};")
        self.discharge_label.setText("\n".join([f"Scored by {scoring.user or '—'} at {clock(scoring.t)} — {verdict}",
                                                *overridden]))
        rows = []
        for key in ("aldrete", "padss"):
            score = scoring.score(key)
            if score is None:
                continue
            name = str(score.get("name", key))
            for item in score.get("items", []):
                basis = str(item.get("basis", ""))
                rows.append([name, code_words(str(item.get("name", ""))),
                             _cell(f"{item.get('score')}/{item.get('maximum')}", right=True),
                             f"{basis} (computed by the monitor)" if item.get("computed") else basis])
            passed = bool(score.get("passed"))
            rows.append([
                _cell(name, bold=True), _cell("total", bold=True),
                _cell(f"{score.get('total')}/{score.get('maximum')}", right=True, bold=True),
                _cell(f"pass mark {score.get('threshold')} — " + ("passes" if passed else "BELOW the pass mark"),
                      colour=None if passed else theme.WARNING_TEXT, bold=True),
            ])
        detail = scoring.detail
        rows.append(["Escort", "present", _cell("yes" if detail.get("escort_present") else "NO", right=True), ""])
        rows.append(["No driving", "instruction acknowledged",
                     _cell("yes" if detail.get("no_driving_acknowledged") else "NO", right=True), ""])
        _fill(self.discharge_table, rows)

    def _show_nibp(self, record: SessionRecord) -> None:
        self._nibp_rows = review.nibp_table(record)
        rows = [
            [clock(m.t), record.phase_label(m.phase), _cell(number(m.systolic), right=True),
             _cell(number(m.diastolic), right=True), _cell(number(m.mean), right=True), m.status or "ok"]
            for m in self._nibp_rows
        ]
        _fill(self.nibp_table, rows)
        self.tabs.setTabText(5, f"NIBP ({len(rows)})")

    def _show_chart(self, record: SessionRecord, arrays: dict[Parameter, Any], has_pleth: bool) -> None:
        chart_events = [self._chart_event(e) for e in record.events]
        ended = record.session.get("ended_at")
        last = max([float(a.t[-1]) for a in arrays.values() if len(a)], default=record.started_at)
        end = max(float(ended), record.started_at) if ended is not None else last
        self.chart.set_phase_words(record.phase_words)
        self.chart.dose_range = None if record.protocol is None else record.protocol.dose
        self.chart.load_arrays(arrays, [e for e in chart_events if e is not None], end)
        if has_pleth:
            self.chart.show_pleth_window(self._pleth_between)
        self._mark_alarms(record.alarms)
        self._make_cursor()
        self._show_span()

    def _pleth_between(self, start: float, end: float) -> tuple[Any, Any]:
        """The stored pleth samples from ``start`` to ``end`` (read when the chart zooms in on them)."""
        assert self.record is not None
        try:
            with self.source.open() as store:
                return review_arrays.waveform_arrays(store, self.record.id, start=start, end=end)
        except StoreError as exc:
            self.show_message(f"The pleth cannot be read: {exc}")
            return np.empty(0), np.empty(0)

    @staticmethod
    def _chart_event(event: SessionEvent) -> SessionEvent | None:
        """Addenda are drawn at the moment they are about (if any), not when they were written; a sign-off is about
        the whole record, so it is not drawn."""
        if event.kind is EventKind.SIGNED_OFF:
            return None
        if event.kind is not EventKind.ADDENDUM:
            return event
        about = event.detail.get("refers_to_at")
        if about is None:
            return None
        return SessionEvent(float(about), event.kind, event.phase, event.user, {"text": "addendum"})

    def _mark_alarms(self, alarms: Sequence[AlarmRecord]) -> None:
        for plot, marks in self._alarm_marks:
            plot.removeItem(marks)
        self._alarm_marks = []
        spots: dict[str, list[dict[str, Any]]] = {}
        # Most urgent last, and larger: where alarms start together at one value, the high ring shows.
        for a in sorted(alarms, key=lambda a: a.priority):
            key = ALARM_PLOT.get(a.parameter or "")
            if key is None or a.peak_value is None:
                continue
            colour = theme.ALARM_COLOURS[a.priority]
            spots.setdefault(key, []).append({
                "pos": (a.started_at, a.peak_value), "pen": pg.mkPen(colour, width=RING_PEN_PX), "brush": None,
                "size": RING_SIZE[a.priority], "symbol": "o", "data": a.id,
            })
        for key, points in spots.items():
            marks = pg.ScatterPlotItem(points, pxMode=True)
            marks.setZValue(10)
            self.chart.plots[key].addItem(marks)
            self._alarm_marks.append((self.chart.plots[key], marks))

    def _make_cursor(self) -> None:
        """A cursor line and a highlight band on every plot, shown when something is selected."""
        plots = [*self.chart.plots.values()]
        if self.chart.pleth_track is not None:
            plots.append(self.chart.pleth_track)
        have = {id(plot) for plot, _line, _region in self._cursor_items}
        for plot in plots:
            if id(plot) in have:
                continue
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen(CURSOR_COLOUR, width=2))
            line.setZValue(20)
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
            region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 255, 255, 28), pen=pg.mkPen(None))
            region.setZValue(-15)
            region.setVisible(False)
            plot.addItem(region, ignoreBounds=True)
            self._cursor_items.append((plot, line, region))

    def _show_span(self, *_args: object) -> None:
        """Say which stretch of the session is on screen and in which phases, since a zoomed view
        may show no phase label."""
        if self.record is None:
            return
        left, right = self.chart.x_range()
        lookup = self.record.phase_at()
        phases = [lookup(left)]
        phases += [p for t, p in zip(lookup.times, lookup.phases, strict=True) if left < t < right]
        names = []
        for phase in phases:
            name = self.record.phase_label(phase)
            if name not in names and phase is not Phase.COMPLETE:
                names.append(name)
        width = right - left
        span = f"{width:.0f} s" if width < 120 else length_text(width)
        self.span_label.setText(f"On screen: {clock(left)} – {clock(right)} ({span}) · {' → '.join(names)}")

    # -- selection moves the chart -------------------------------------------------------------------

    def focus_on(self, start: float, end: float | None = None) -> None:
        """Zoom the chart to a moment (or a span) with some context around it, and mark it."""
        end = start if end is None else max(end, start)
        pad = max(120.0, 0.5 * (end - start))
        left, right = start - pad, end + pad
        if right - left < MIN_FOCUS_S:
            middle = (start + end) / 2
            left, right = middle - MIN_FOCUS_S / 2, middle + MIN_FOCUS_S / 2
        self.chart.show_range(left, right)
        for _plot, line, region in self._cursor_items:
            line.setValue(start)
            line.setVisible(True)
            region.setRegion((start, end))
            region.setVisible(end > start)

    def show_whole_session(self) -> None:
        """Back to the whole session."""
        self.chart.go_live()

    def _selected_row(self, table: QTableWidget) -> int | None:
        rows = table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _alarm_selected(self) -> None:
        row = self._selected_row(self.alarm_table)
        if row is not None and row < len(self._alarm_rows):
            alarm = self._alarm_rows[row]
            self.focus_on(alarm.started_at, alarm.ended_at)

    def _event_selected(self) -> None:
        row = self._selected_row(self.event_table)
        if row is None or row >= len(self._event_rows):
            return
        event = self._event_rows[row]
        when = self._moment_of(event)
        if when is not None:
            self.focus_on(when)

    def _nibp_selected(self) -> None:
        row = self._selected_row(self.nibp_table)
        if row is not None and row < len(self._nibp_rows):
            self.focus_on(self._nibp_rows[row].t)

    @staticmethod
    def _moment_of(event: SessionEvent) -> float | None:
        if event.kind is EventKind.SIGNED_OFF:
            return None  # about the whole record, not a moment of it
        if event.kind is EventKind.ADDENDUM:
            about = event.detail.get("refers_to_at")
            return None if about is None else float(about)
        return event.t

    def selected_moment(self) -> float | None:
        """The time of whatever is selected in the alarm, event or NIBP list (None when nothing is)."""
        page = self.tabs.currentWidget()
        if page is self.alarm_table:
            row = self._selected_row(self.alarm_table)
            return None if row is None else self._alarm_rows[row].started_at
        if page is self.event_table:
            row = self._selected_row(self.event_table)
            return None if row is None else self._moment_of(self._event_rows[row])
        if page is self.nibp_table:
            row = self._selected_row(self.nibp_table)
            return None if row is None else self._nibp_rows[row].t
        return None

    def select_alarm(self, index: int) -> None:
        """Select an alarm row (as a click would)."""
        self.tabs.setCurrentWidget(self.alarm_table)
        self.alarm_table.selectRow(index)

    def select_event(self, event_kind: EventKind, nth: int = 0) -> None:
        """Select the nth timeline row of a kind (as a click would)."""
        rows = [i for i, e in enumerate(self._event_rows) if e.kind is event_kind]
        self.tabs.setCurrentWidget(self.event_table)
        self.event_table.selectRow(rows[nth])

    # -- addenda -------------------------------------------------------------------------------------

    def add_addendum(self) -> None:
        """Ask for an addendum's text; it is stored signed and dated, and audited."""
        if not self.addendum_button.isEnabled():
            self.show_message(self.addendum_button.toolTip())
            return
        dialog = AddendumDialog(self, self.user, self.selected_moment())
        self._open(dialog, lambda d: self.write_addendum(d.text(), d.refers_to()))  # type: ignore[attr-defined]

    def write_addendum(self, text: str, refers_to_at: float | None = None) -> SessionEvent | None:
        """Store an addendum under the signed-in user and show it in the timeline."""
        if self.record is None:
            return None
        try:
            with self.source.open_for_writing("An addendum") as store:
                event = review.add_addendum(
                    store, self.record.id, text, user=self.user.name, role=self.user.role, refers_to_at=refers_to_at
                )
        except (review.AddendumRefused, StoreError, AppError) as exc:
            self.show_message(f"The addendum was not stored: {exc}")
            return None
        self.message.setVisible(False)
        events = (*self.record.events, event)
        self.record = replace(self.record, events=events)
        self._show_events(self.record)
        shown = self._chart_event(event)
        if shown is not None:
            self.chart.add_events([shown])
        self.tabs.setCurrentWidget(self.event_table)
        self.event_table.scrollToBottom()
        self.sessions_changed.emit()
        return event

    # -- sign-off ------------------------------------------------------------------------------------

    def ask_sign_off(self) -> None:
        """Ask for the sign-off's comment (optional); it is stored signed and dated, sealed and audited."""
        if not self.sign_off_button.isEnabled():
            self.show_message(self.sign_off_button.toolTip())
            return
        self._open(SignOffDialog(self, self.user), lambda d: self.write_sign_off(d.text()))  # type: ignore[attr-defined]

    def write_sign_off(self, comment: str = "") -> SessionEvent | None:
        """Sign the session off under the signed-in physician and show it in the header and the timeline."""
        if self.record is None:
            return None
        try:
            with self.source.open_for_writing("A sign-off") as store:
                event = sign_off.sign_off(store, self.record.id, user=self.user.name, role=self.user.role,
                                          comment=comment)
                recording, path = store.recording_now(), store.path
        except (sign_off.SignOffRefused, StoreError, AppError) as exc:
            self.show_message(f"The session was not signed off: {exc}")
            return None
        self.message.setVisible(False)
        self.record = replace(self.record, events=(*self.record.events, event))
        self._show_events(self.record)
        self._show_header(self.record)
        self.sessions_changed.emit()
        self.server_thread = self._send_sign_off(path, recording)
        return event

    def _send_sign_off(self, path: Path, recording: bool) -> threading.Thread:
        """Send the sign-off to the clinic's server, when there is one, on a thread of its own (the network never
        holds up the window): the server would otherwise list the session as awaiting a sign-off until this chair
        records again. What the server said is shown when it comes."""

        def send() -> None:
            answer = send_sign_off_to_server(path, still_recording=recording)
            if answer is not None:
                sent, said = answer
                self._server_answered.emit(said[:1].upper() + said[1:], not sent)

        thread = threading.Thread(target=send, name="sign-off-to-server", daemon=True)
        thread.start()
        return thread

    # -- exports -------------------------------------------------------------------------------------

    def suggested_name(self, fmt: str) -> str:
        """A file name for an export: the session's start and id, never the patient's identifiers. A de-identified
        export's name has the id alone: its contents move the date of care to 2000-01-01, and a name that kept
        the day and time of care would give it back."""
        assert self.record is not None
        if self.deidentify_box.isChecked():
            return f"session-{self.record.id[:8]}-deidentified{SUFFIXES[fmt]}"
        stamp = datetime.fromtimestamp(self.record.started_at).astimezone().strftime("%Y%m%d-%H%M")
        return f"session-{stamp}-{self.record.id[:8]}{SUFFIXES[fmt]}"

    def _ask_export_path(self, fmt: str, suggested: str) -> str | None:
        start = str(Path.home() / suggested)
        path, _filter = QFileDialog.getSaveFileName(self, f"Save {fmt.upper()} export", start)
        return path or None

    def _export_options(self) -> ExportOptions:
        if self._ranges is None:
            from monitor.app.exports import reference_ranges

            try:
                self._ranges, warning = reference_ranges(self.source)
            except AppError as exc:
                from monitor.alarms.profile import default_profile
                from monitor.exports.codes import ranges_from_profile

                self._ranges, warning = ranges_from_profile(default_profile()), str(exc)
            if warning:
                self.show_message(f"Reference ranges from the built-in alarm profile: {warning}")
        return ExportOptions(deidentify=self.deidentify_box.isChecked(), user=self.user.name, ranges=self._ranges)

    def export(self, fmt: str) -> threading.Thread | None:
        """Ask where, then write the export on a worker thread; ``export_finished`` reports the outcome."""
        if self.record is None:
            return None
        path = self.choose_export_path(fmt, self.suggested_name(fmt))
        if not path:
            return None
        options = self._export_options()
        session_id = self.record.id
        source = self.source
        for button in self.export_buttons.values():
            button.setEnabled(False)
        # An export still running after a second shows how far it is and can be cancelled.
        self.export_progress.setRange(0, 0)
        self._export_label = f"Exporting {fmt.upper()}…"
        self.export_progress.setFormat(self._export_label)
        self.export_cancel.setEnabled(True)
        self._export_cancelled.clear()
        self._progress_timer.start(PROGRESS_AFTER_MS)
        cancelled = self._export_cancelled

        def work() -> None:
            error = ""
            try:
                with source.open() as counter:
                    total = counter.reading_count(session_id)

                def read(count: int) -> None:
                    if cancelled.is_set():
                        raise ExportCancelled
                    self._export_read.emit(count, total)

                export_session(source, session_id, fmt, options, path=path, via="review window", on_block=read)
                if cancelled.is_set():  # too late to stop: the file is complete and recorded
                    log.info("export cancelled after it was written")
            except ExportCancelled:
                error = EXPORT_CANCELLED
            except (ExportError, StoreError, OSError, ValueError, AppError) as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # a writer bug must still reach the screen, not vanish with the thread
                log.exception("export failed")
                error = f"{type(exc).__name__}: {exc}"
            self._export_done.emit(fmt, str(path), error)

        thread = threading.Thread(target=work, name=f"export-{fmt}", daemon=True)
        self._export_threads = [t for t in self._export_threads if t.is_alive()]
        self._export_threads.append(thread)
        thread.start()
        return thread

    def cancel_export(self) -> None:
        """Stop the running export: it writes nothing (no file, no audit entry)."""
        self._export_cancelled.set()
        self.export_cancel.setEnabled(False)
        self.export_progress.setFormat("Cancelling…")

    def _export_advanced(self, count: int, total: int) -> None:
        if self._export_cancelled.is_set() or total <= 0:
            return
        self.export_progress.setRange(0, total)
        # A report reads the readings first and then lays itself out: the bar stops short until written.
        self.export_progress.setValue(min(count, total))
        self.export_progress.setFormat(f"{self._export_label} – %p%")

    def _show_progress(self) -> None:
        central = self.centralWidget()
        top = self.tabs.mapTo(central, self.tabs.rect().topLeft()).y()
        self.export_panel.adjustSize()
        self.export_panel.move(central.width() - self.export_panel.width() - 20, max(0, top - 34))
        self.export_panel.setVisible(True)
        self.export_panel.raise_()

    def _export_settled(self, fmt: str, path: str, error: str) -> None:
        self._progress_timer.stop()
        self.export_panel.setVisible(False)
        for button in self.export_buttons.values():
            button.setEnabled(True)
        if error == EXPORT_CANCELLED:
            self.show_message(f"The {fmt.upper()} export was cancelled; nothing was written.", warning=False)
        elif error:
            self.show_message(f"The {fmt.upper()} export failed: {error}")
        else:
            deid = " (de-identified)" if self.deidentify_box.isChecked() else ""
            self.show_message(f"{fmt.upper()} export{deid} saved to {path}", warning=False)
        self.export_finished.emit(fmt, path, error)

    # -- messages and dialogs ----------------------------------------------------------------------

    def show_message(self, text: str, *, warning: bool = True) -> None:
        """A line the reviewer must read (a refusal, a failure, where an export went)."""
        self.messages.append(text)
        self.message.setText(text)
        colour = theme.WARNING_TEXT if warning else theme.TEXT
        background = "#3a2e00" if warning else "#1d2a36"
        self.message.setStyleSheet(
            f"background: {background}; color: {colour}; font-weight: bold; padding: 4px 8px; "
            "border: 1px solid #5a6a7a; border-radius: 4px;"
        )
        self.message.setVisible(True)
        self._place_message()

    def _place_message(self) -> None:
        """Lay the message over the lower edge of the chart (nothing else moves)."""
        central = self.centralWidget()
        if central is None or not self.message.isVisible():
            return
        width = max(200, central.width() - 40)
        height = self.message.heightForWidth(width)
        bottom = self.tabs.mapTo(central, self.tabs.rect().topLeft()).y()
        self.message.setGeometry(20, max(0, bottom - height - 6), width, height)
        self.message.raise_()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Keep a shown message in its place."""
        super().resizeEvent(event)
        self._place_message()


    def closeEvent(self, event: QCloseEvent) -> None:
        """Wait for a running export to finish writing (it is short) before the window goes; the patient's course
        opened from here goes with it."""
        if self.dialog is not None:
            self.dialog.reject()
        course: QWidget | None = getattr(self, "course_window", None)
        if course is not None:
            course.close()
        for thread in self._export_threads + self._check_threads:
            thread.join(timeout=30)
        self._export_threads = []
        self._check_threads = []
        super().closeEvent(event)

    # -- for tests and the screenshot script -------------------------------------------------------

    def statistics_cells(self) -> list[list[str]]:
        """The statistics table as text, row by row."""
        table = self.stats_table
        return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
