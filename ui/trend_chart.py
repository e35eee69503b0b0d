"""The whole-session trend chart: HR/PR, SpO2 and NIBP on one clock-time axis, with phase bands,
alarm-limit lines, event and note markers, and an optional 10-second pleth strip.

The chart is fed in batches (:meth:`TrendChart.add_readings`) and redrawn once per UI tick
(:meth:`TrendChart.refresh`), or given a whole stored session at once (:meth:`TrendChart.load_session`
from readings, :meth:`TrendChart.load_arrays` from numpy arrays), so the live window and a review
window share it. In review (``live=False``) there is no following: the view shows the whole
session until the user zooms, and the button returns to the whole session; the stored pleth can
be laid under the trends on the same time axis (:meth:`TrendChart.show_pleth_track`).

Live follow: while following, the time axis shows the whole session up to now. Zooming or
panning with the mouse leaves the live view: a view whose right edge touches "now" keeps
scrolling with the data at the chosen width; a view into the past stays where the user put it.
Data keep flowing either way; the Live button returns to the whole session.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar
from xml.sax.saxutils import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from drivers.core.readings import NIBP_PARAMETERS, PLETH_RATE_HZ, Parameter, Reading
from monitor import chair
from monitor.alarms.model import Priority
from monitor.dose import DoseRange
from monitor.entered_in_error import CORRECTABLE, assessment_key, is_correction, shown_value
from monitor.labels import NIBP_LABEL, PARAMETER_LABELS, event_label
from monitor.session import PHASE_START_EVENT, EventKind, Phase, SessionEvent, phase_step_text
from ui import theme
from ui.labels import ElidedLabel
from ui.trend_buffer import RingBuffer, TrendBuffer

PLETH_STRIP_S = 10.0
#: A continuous numeric (heart rate, SpO2, respiration) not received for this long has a hole in its trend: the
#: line is broken there rather than joining the values on either side (the "no value for 10 s" alarm's time).
TREND_GAP_S = 10.0
#: A stored pleth is drawn as a waveform when at most this many seconds are on screen.
PLETH_READABLE_S = 120.0
PLETH_CAPACITY = int(PLETH_STRIP_S * PLETH_RATE_HZ)

# Nominal value ranges; a plot widens only when data fall outside them.
NOMINAL_RANGE: dict[str, tuple[float, float]] = {
    "hr": (40.0, 160.0),
    "spo2": (84.0, 101.0),
    "nibp": (50.0, 200.0),
    "vent": (0.0, 60.0),
}

PLOT_OF: dict[Parameter, str] = {
    Parameter.HR: "hr",
    Parameter.PR: "hr",
    Parameter.SPO2: "spo2",
    Parameter.NIBP_SYS: "nibp",
    Parameter.NIBP_DIA: "nibp",
    Parameter.NIBP_MEAN: "nibp",
    # Ventilation has its own plot, added only once the device sends RR or EtCO2.
    Parameter.RR: "vent",
    Parameter.ETCO2: "vent",
}

_START_PHASE = {kind: phase for phase, kind in PHASE_START_EVENT.items()}

# Events shown as markers (phase starts are shown as bands instead).
_MARKER_TEXT: dict[EventKind, str] = {
    EventKind.BASELINE_TAKEN: "baseline taken",
    EventKind.DISCHARGE_SCORED: "discharge scored",
    EventKind.LINK_LOST: "link lost",
    EventKind.LINK_RESTORED: "link back",
    EventKind.SESSION_RESUMED: "session resumed",
    EventKind.CLOSED_AFTER_CRASH: "recording stopped",
}
_NOTE_KINDS = {EventKind.NOTE, EventKind.QUICK_EVENT, EventKind.SCORE, EventKind.ADDENDUM}

#: A limit label's height on screen: limit lines closer than this share one label.
LIMIT_LABEL_PX = 17
#: Room between the newest value and the limit labels at the right edge of the live view.
LABEL_GAP_PX = 8
#: The most of the plots' width the live view keeps for limit labels: a label's texts wider than that wrap.
LABEL_GUTTER_SHARE = 1 / 3
#: Between two texts of one limit label.
LABEL_SEPARATOR = " &nbsp; "
#: Markers closer than this many pixels share one label, which gives their count.
MARKER_LABEL_PX = 110

AXIS_FONT_PX = 13
LABEL_FONT_PX = 12


T = TypeVar("T")


def _coloured(priority: Priority, text: str) -> str:
    return f"<span style='color:{theme.ALARM_COLOURS[priority]}'>{escape(text)}</span>"


def _font(px: int, bold: bool = False) -> QFont:
    font = QFont()
    font.setPixelSize(px)
    font.setBold(bold)
    return font


def with_gaps(
    times: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray, before: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``times`` and ``values`` with a NaN sample in every stretch longer than :data:`TREND_GAP_S` without one
    (also between ``before``, the last time already drawn, and the first of these)."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if not t.size:
        return t, v
    previous = np.concatenate(([t[0] if before is None else before], t[:-1]))
    holes = np.flatnonzero(t - previous > TREND_GAP_S)
    if not holes.size:
        return t, v
    return np.insert(t, holes, previous[holes] + TREND_GAP_S / 2), np.insert(v, holes, np.nan)


def limit_groups(
    limits: Sequence[LimitLine], gap: float, rows_of: Callable[[Sequence[LimitLine]], int] = lambda _group: 1
) -> list[list[LimitLine]]:
    """Limits (sorted by value) in runs that share a label: a limit joins the run below it when it is closer to
    that run's highest limit than the run's label is high (``gap`` a row, ``rows_of`` the rows its texts take)."""
    groups: list[list[LimitLine]] = []
    for limit in limits:
        if groups and limit.value - groups[-1][-1].value < gap * rows_of(groups[-1]):
            groups[-1].append(limit)
        else:
            groups.append([limit])
    return groups


def pulse_rate_where_no_heart_rate(pr_t: np.ndarray, pr_v: np.ndarray, hr_t: np.ndarray, hr_v: np.ndarray
                                   ) -> np.ndarray:
    """The pulse rate's values with a NaN wherever an ECG heart rate is drawn within :data:`TREND_GAP_S` of it.

    The heart-rate plot shows the ECG's rate where there is one, else the pulse rate (as the numerics do): per
    stretch of time, so after a change from an ECG monitor to an oximeter (or back) each stretch still has a line.
    """
    if not hr_t.size or not pr_t.size:
        return pr_v
    # Only the heart rate near these pulse rates counts: the work is the pulse rates', not the session's.
    low = int(np.searchsorted(hr_t, pr_t.min() - TREND_GAP_S))
    high = int(np.searchsorted(hr_t, pr_t.max() + TREND_GAP_S, side="right"))
    hr_t, hr_v = hr_t[low:high], hr_v[low:high]
    hr_t = hr_t[np.isfinite(hr_v)]
    if not hr_t.size:
        return pr_v
    i = np.searchsorted(hr_t, pr_t)
    after = hr_t[np.minimum(i, hr_t.size - 1)]
    before = hr_t[np.maximum(i - 1, 0)]
    near = np.minimum(np.abs(after - pr_t), np.abs(pr_t - before)) <= TREND_GAP_S
    return np.where(near, np.nan, pr_v)


def _as_stored(_t: np.ndarray, v: np.ndarray) -> np.ndarray:
    return v


def label_rows(items: Sequence[T], widths: Sequence[float], gap: float, most: float) -> list[list[T]]:
    """``items`` (drawn ``widths`` pixels wide, ``gap`` apart) in rows of at most ``most`` pixels, in order; an
    item wider than that has a row of its own."""
    rows: list[list[T]] = []
    used = 0.0
    for item, width in zip(items, widths, strict=True):
        if rows and used + gap + width <= most:
            rows[-1].append(item)
            used += gap + width
        else:
            rows.append([item])
            used = width
    return rows


def marker_groups(markers: Sequence[tuple[float, str, str]], gap_s: float) -> list[list[tuple[float, str, str]]]:
    """Markers (in time order) in runs whose neighbours are closer than ``gap_s``: each run shares a label."""
    groups: list[list[tuple[float, str, str]]] = []
    for marker in sorted(markers, key=lambda m: m[0]):
        if groups and marker[0] - groups[-1][0][0] < gap_s:
            groups[-1].append(marker)
        else:
            groups.append([marker])
    return groups


class FollowMode(StrEnum):
    """How the time axis moves as data arrive."""

    WHOLE = "whole"  # the whole session up to now (live)
    TAIL = "tail"  # a fixed-width window whose right edge is now
    HOLD = "hold"  # where the user left it


# What the line above the chart says, live or in review, for each follow mode.
_VIEW_TEXT: dict[bool, dict[FollowMode, str]] = {
    True: {
        FollowMode.WHOLE: "whole session · live",
        FollowMode.TAIL: "zoomed · following now",
        FollowMode.HOLD: "looking back · new data still recorded — press Live to return",
    },
    False: {
        FollowMode.WHOLE: "whole session · drag to pan, wheel to zoom",
        FollowMode.TAIL: "zoomed in — Whole session shows all of it",
        FollowMode.HOLD: "zoomed in — Whole session shows all of it",
    },
}


@dataclass(frozen=True, slots=True)
class LimitLine:
    """An alarm limit drawn across a trend."""

    parameter: Parameter
    value: float
    priority: Priority
    label: str
    #: True for an upper limit (alarms above it): its label sits just below the line, inside the normal range.
    upper: bool = True
    #: What limits of one kind say alike (e.g. "SBP >"): on a plot too short to label its limits one group at a
    #: time, a kind is named once, followed by its limits' values. Empty: the limit keeps its whole label.
    kind: str = ""

    @property
    def figure(self) -> str:
        """The limit's value as its kind's list gives it, after its priority's marker."""
        return f"{self.priority.marker}{self.value:.0f}"


@dataclass(frozen=True, slots=True)
class LimitLabel:
    """One label of one or more limit lines close together."""

    plot: str
    value: float
    above: bool
    texts: tuple[str, ...]
    item: Any
    #: The label's height in the plot's value units when it was laid out (``rows`` lines of text).
    room: float
    rows: int = 1
    #: The one label of a plot too short to label its limits apart: set inside the plot at its top, it hides the
    #: limit lines behind it, and names each kind of limit once.
    crowded: bool = False


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """A phase from its start to its end (None: still going)."""

    phase: Phase
    start: float
    end: float | None


def phase_spans(events: Iterable[SessionEvent]) -> list[PhaseSpan]:
    """Phase periods from a timeline's phase-start events."""
    starts = [(e.t, _START_PHASE[e.kind]) for e in sorted(events, key=lambda e: e.t) if e.kind in _START_PHASE]
    spans = []
    for i, (t, phase) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else None
        if phase is Phase.COMPLETE:
            break
        spans.append(PhaseSpan(phase, t, end))
    if starts and starts[-1][1] is Phase.COMPLETE and spans and spans[-1].end is None:
        spans[-1] = PhaseSpan(spans[-1].phase, spans[-1].start, starts[-1][0])
    return spans


def marker_text(event: SessionEvent, phase_words: Mapping[Phase, str] | None = None,
                dose: DoseRange | None = None) -> str | None:
    """Short label of an event on the chart, None for events that are not marked.

    ``phase_words`` are the protocol's names of the phases (``dosing stopped`` for a nasal spray); ``dose`` its dose
    range (a fixed dose is shown without mg/kg).
    """
    detail = dict(event.detail)
    if event.kind in _NOTE_KINDS:
        if event.kind is EventKind.SCORE:
            return chair.score_text(detail, short=True)
        text = str(shown_value(event) if is_correction(event) else
                   detail.get("text") or detail.get("label") or event_label(event.kind))
        return text if len(text) <= 28 else text[:27] + "…"
    entry = chair.entry_text(event, dose)
    if entry is not None:
        return entry if len(entry) <= 28 else entry[:27] + "…"
    if event.kind in _START_PHASE:
        return None  # a band, not a marker
    if event.kind is EventKind.DEVICE_CLOCK_OFFSET:
        return f"device clock {float(detail.get('offset_s', 0.0)):+.0f} s"
    return phase_step_text(event.kind, phase_words) or _MARKER_TEXT.get(event.kind)


class _Series:
    """One parameter's trusted values and, apart, the values its device marked unreliable."""

    def __init__(self) -> None:
        self.good = TrendBuffer()
        self.questionable = TrendBuffer(capacity=256)
        self.dirty = False

    def clear(self) -> None:
        self.good.clear()
        self.questionable.clear()
        self.dirty = True


#: Samples drawn per pixel of a trend curve (as min/max pairs); see ``_tune``.
TREND_SAMPLES_PER_PIXEL = 0.5
#: Phase shading strength, as the opacity of the phase colour over the chart background.
PHASE_BAND_ALPHA = 110 / 255


def _over_background(colour: str, alpha: float) -> object:
    """The opaque colour that ``colour`` at ``alpha`` gives over the chart background.

    The bands lie on the background only (below everything else), so the picture is the same,
    and an opaque fill is cheaper to paint than a blended one at every tick.
    """
    top, bottom = pg.mkColor(colour), pg.mkColor(theme.BACKGROUND)
    mixed = [round(a * alpha + b * (1 - alpha)) for a, b in zip(top.getRgb()[:3], bottom.getRgb()[:3], strict=True)]
    return pg.mkColor(*mixed)


def whole_session_right_edge(session_start: float, now: float, gutter: float = 0.0) -> float:
    """Right edge of the whole-session view: past now by at least 30 s, in whole steps.

    ``gutter`` is the share of the view's width the limit labels take at its right edge: the view reaches
    that much further, so the newest values are drawn left of the labels, never under them. The view moves
    once a minute (once every five minutes after the first quarter hour) rather than at every tick, so the
    axes and labels are not recomputed and the data are not re-laid out every second.
    """
    span = max(now - session_start, 60.0)
    step = 60.0 if span < 15 * 60 else 300.0
    # Right of now must be ``gutter`` of the whole width: span / (1 - gutter) in all.
    room = max(30.0, span * gutter / (1.0 - gutter))
    return session_start + math.ceil((span + room) / step) * step


#: The cached history of a trend ends at a whole multiple of this many seconds.
HISTORY_STEP_S = 60.0


def _history_end(times: np.ndarray) -> float:
    """Where the cached history of a trend ends: the last whole step at least a step before its end."""
    return math.floor(float(times[-1]) / HISTORY_STEP_S) * HISTORY_STEP_S - HISTORY_STEP_S


def _static(item: Any) -> None:
    """Paint a still item (limit, marker, band, label) once into a pixmap kept until the view moves.

    A whole-window repaint (a window uncovered, a dialog closed) then copies these instead of
    drawing each line, dash and text again; the view moves at most once a minute.
    """
    item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


class OpenPhaseBand(pg.LinearRegionItem):  # type: ignore[misc]
    """The band of the phase under way, from its start to now: at each tick only the strip it newly covers is
    drawn again.

    A plain region whose end moves changes its geometry, and the whole band, with every trend drawn over it, is
    drawn again: at every tick, up to the whole chart in a long phase. This band's bounds reach to the view's right
    edge (they change only when the view moves, as everything is drawn again then); it paints up to its end.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reach: QRectF | None = None
        self._drawn_end = float(self.getRegion()[1])

    def boundingRect(self) -> QRectF:
        start, end = self.getRegion()
        reach = QRectF(self.viewRect())
        top, height = reach.top(), reach.height()
        reach.setTop(top + height * self.span[0])
        reach.setBottom(top + height * self.span[1])
        reach.setLeft(start)
        reach.setRight(max(end, reach.right()))
        reach = reach.normalized()
        if self._reach != reach:
            self._reach = reach
            self.prepareGeometryChange()
        return reach

    def paint(self, painter: Any, *_args: Any) -> None:
        painter.setBrush(self.currentBrush)
        painter.setPen(pg.mkPen(None))
        painter.drawRect(self._covered(self.boundingRect()))

    def _covered(self, reach: QRectF) -> QRectF:
        start, end = self.getRegion()
        return QRectF(start, reach.top(), end - start, reach.height())

    def lineMoved(self, i: int) -> None:
        if self.blockLineSignal:
            return
        reach = self._reach
        start, end = self.getRegion()
        if reach is None or start != reach.left() or end > reach.right():
            self._drawn_end = float(end)
            super().lineMoved(i)  # the bounds change: drawn again whole
            return
        # Within the bounds: the strip between the end drawn and the new end (either way) is drawn again.
        drawn, self._drawn_end = self._drawn_end, float(end)
        left, right = min(drawn, end), max(drawn, end)
        self.update(QRectF(left, reach.top(), right - left, reach.height()))
        self.sigRegionChanged.emit(self)


def _pen(colour: str, width: float = 2.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> object:
    return pg.mkPen(colour, width=width, style=style)


class TrendChart(QWidget):
    """Stacked HR/PR, SpO2 and NIBP trends over the session, plus an optional pleth strip."""

    follow_changed = Signal(str)  # FollowMode value

    def __init__(self, parent: QWidget | None = None, *, show_live_button: bool = True, live: bool = True) -> None:
        super().__init__(parent)
        self.live = live
        #: What the line above the chart says once a live session's recording has ended (None: not ended).
        self.ended: str | None = None
        self.follow = FollowMode.WHOLE
        self.session_start: float | None = None
        self.now: float | None = None
        self.series: dict[Parameter, _Series] = {p: _Series() for p in PLOT_OF}
        self.cuff_pairs = TrendBuffer(capacity=512)  # x: t, t; y: sys, dia (drawn with connect="pairs")
        self._cuff_partial: dict[float, dict[Parameter, float]] = {}
        self._pairs_dirty = False
        self.pleth = RingBuffer(PLETH_CAPACITY)
        #: The time the pleth strip was last drawn up to (its right edge).
        self._pleth_drawn_to: float | None = None
        self._pleth_dirty = False
        self._spans: list[PhaseSpan] = []
        #: What the session's protocol calls each phase (a band without a name here shows the phase's own).
        self.phase_words: dict[Phase, str] = {}
        #: The session's protocol's dose range, for the dose marker (None: shown as planned).
        self.dose_range: DoseRange | None = None
        self._span_items: list[tuple[PhaseSpan, list[pg.LinearRegionItem]]] = []
        self._phase_labels: list[pg.InfiniteLine] = []
        #: Pixels kept between a plot's edge and its highest or lowest value, so that a marker drawn at a
        #: value is whole (half a cuff triangle; the review sets room for its largest alarm ring).
        self.marker_room_px = 9.0
        self._limit_items: list[tuple[pg.PlotItem, pg.InfiniteLine]] = []
        self._marker_items: list[tuple[pg.PlotItem, pg.InfiniteLine]] = []
        self._markers: list[tuple[float, str, str]] = []  # time, label, colour
        #: Each correctable entry (score, intervention, note, quick event) → its marker, relabelled when a correction
        #: supersedes it.
        self._entry_markers: dict[tuple[str, str, float], int] = {}
        self._marker_labels: list[pg.TextItem] = []
        self._marker_layout_key: tuple[int, int, int, int] | None = None
        #: The markers as labelled: each group shares one label (its text, or the count of its entries).
        self.marker_groups: list[list[tuple[float, str, str]]] = []
        self.limit_labels: list[LimitLabel] = []
        self._limits: list[LimitLine] = []
        self._limit_layout_keys: dict[str, tuple[float, int, int]] = {}
        self._label_metrics_font = _font(LABEL_FONT_PX, bold=True)
        self._label_metrics = QFontMetricsF(self._label_metrics_font)
        self._separator_px = self._label_metrics.horizontalAdvance(" \u00a0 ")
        self.marker_count = 0
        #: Vertical distance (fraction of the plot) between neighbouring marker labels; a short plot needs more.
        self.marker_step = 0.08
        self._applying_range = False
        self.pleth_track: pg.PlotItem | None = None
        self._pleth_loader: Callable[[float, float], tuple[np.ndarray, np.ndarray]] | None = None
        self._pleth_loaded: tuple[float, float] = (math.inf, -math.inf)
        self.pleth_track_curve: pg.PlotDataItem | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        bar = QHBoxLayout()
        # One line, cut with "…" where the bar is narrow (the review's toolbar at 1280 pixels): wrapped, it stood
        # as a column of word pieces there and made the row five lines high, taken from the chart.
        self.view_label = ElidedLabel(_VIEW_TEXT[live][FollowMode.WHOLE])
        self.view_label.setObjectName("dim")
        self.live_button = QPushButton("Live (L)" if live else "Whole session")
        self.live_button.setToolTip(
            "Back to the whole session, following new data (L)" if live else "Show the whole session again (Home)"
        )
        self.live_button.clicked.connect(self.go_live)
        self.live_button.setVisible(show_live_button)
        self.live_button.setEnabled(False)
        bar.addWidget(self.view_label, 1)
        bar.addWidget(self.live_button)
        layout.addLayout(bar)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.BACKGROUND)
        # No Tab stop: no key acts on the plots (the wheel zooms, dragging pans, L and Home are the window's), and
        # nothing showed the keyboard there: a Tab between the alarm bar and the buttons seemed to go nowhere.
        self.graphics.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout.addWidget(self.graphics, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        hr, pr, spo2, nibp = (PARAMETER_LABELS[key] for key in ("hr", "pr", "spo2", "nibp_sys"))
        titles = {"hr": f"{hr.short} / {pr.short}  {hr.unit}", "spo2": f"{spo2.short}  {spo2.unit}",
                  "nibp": f"{NIBP_LABEL}  {nibp.unit}"}
        for row, key in enumerate(("hr", "spo2", "nibp")):
            plot = self.graphics.addPlot(row=row, col=0, axisItems={"bottom": pg.DateAxisItem()})
            plot.setLabel("left", titles[key], color=theme.TEXT, size=f"{AXIS_FONT_PX + 1}px")
            for side in ("left", "bottom"):
                plot.getAxis(side).setTickFont(_font(AXIS_FONT_PX))
                plot.getAxis(side).setTextPen(theme.TEXT_DIM)
            plot.showGrid(x=False, y=False)
            plot.setMouseEnabled(x=True, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.getAxis("left").setWidth(64)
            plot.setYRange(*NOMINAL_RANGE[key], padding=0)
            if key != "nibp":
                plot.getAxis("bottom").setStyle(showValues=False)
            if row:
                plot.setXLink(self.plots["hr"])
            plot.getViewBox().sigRangeChangedManually.connect(self._user_moved_view)
            plot.getViewBox().sigResized.connect(self._plot_resized)
            self.plots[key] = plot
        # The x range also changes without a refresh (the first layout, a resize): the labels keep to its edge.
        self.plots["hr"].getViewBox().sigXRangeChanged.connect(self._place_limit_labels)
        self.graphics.ci.layout.setRowStretchFactor(2, 13)
        self.graphics.ci.layout.setRowStretchFactor(0, 10)
        self.graphics.ci.layout.setRowStretchFactor(1, 9)

        self.curves: dict[Parameter, pg.PlotDataItem] = {}
        # The continuous trends are drawn in two parts: the history up to a whole minute, painted
        # once into a cached image and reused while neither it nor the view changes, and the recent
        # tail (under two minutes), the only part drawn again at every tick. A whole session then
        # costs about what an empty chart does per tick.
        self.history_curves: dict[Parameter, pg.PlotDataItem] = {}
        self._history_cut: dict[Parameter, int] = {}
        self.questionable_marks: dict[Parameter, pg.PlotDataItem] = {}
        for parameter, key in ((Parameter.PR, "hr"), (Parameter.HR, "hr"), (Parameter.SPO2, "spo2")):
            name = PARAMETER_LABELS[parameter].short
            colour = theme.PARAMETER_COLOURS[parameter]
            history = self.plots[key].plot(pen=_pen(colour, 2.5), connect="finite")
            self._tune(history)
            history.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            self.history_curves[parameter] = history
            self._history_cut[parameter] = 0
            curve = self.plots[key].plot(pen=_pen(colour, 2.5), name=name, connect="finite")
            self._tune(curve)
            self.curves[parameter] = curve
        for parameter in (Parameter.HR, Parameter.PR, Parameter.SPO2):
            marks = self.plots[PLOT_OF[parameter]].plot(
                pen=None, symbol="o", symbolSize=5, symbolBrush=theme.QUESTIONABLE, symbolPen=None
            )
            self.questionable_marks[parameter] = marks
        nibp = self.plots["nibp"]
        colour = theme.PARAMETER_COLOURS[Parameter.NIBP_SYS]
        self.cuff_lines = nibp.plot(pen=_pen(colour, 2), connect="pairs")
        self.curves[Parameter.NIBP_SYS] = nibp.plot(
            pen=None, symbol="t", symbolSize=14, symbolBrush=colour, symbolPen=None
        )
        self.curves[Parameter.NIBP_DIA] = nibp.plot(
            pen=None, symbol="t1", symbolSize=14, symbolBrush=colour, symbolPen=None
        )
        mean_colour = theme.PARAMETER_COLOURS[Parameter.NIBP_MEAN]
        self.curves[Parameter.NIBP_MEAN] = nibp.plot(
            pen=_pen(mean_colour, 2), symbol="o", symbolSize=6, symbolBrush=mean_colour, symbolPen=None,
            connect="finite",
        )
        for parameter in (Parameter.NIBP_SYS, Parameter.NIBP_DIA):
            self.questionable_marks[parameter] = nibp.plot(
                pen=None, symbol="x", symbolSize=10, symbolBrush=theme.QUESTIONABLE, symbolPen=theme.QUESTIONABLE
            )
        # Cuff values change every few minutes: their lines and symbols are drawn once and copied at a repaint.
        for item in (self.cuff_lines, *(self.curves[p] for p in NIBP_PARAMETERS),
                     *(self.questionable_marks[p] for p in (Parameter.NIBP_SYS, Parameter.NIBP_DIA))):
            _static(item.curve)
            _static(item.scatter)

        self.pleth_widget = pg.PlotWidget()
        self.pleth_widget.setBackground(theme.BACKGROUND)
        self.pleth_widget.setFixedHeight(90)
        pleth_plot = self.pleth_widget.getPlotItem()
        pleth_plot.setLabel("left", "Pleth", color=theme.TEXT_DIM)
        pleth_plot.getAxis("left").setWidth(64)
        pleth_plot.getAxis("left").setStyle(showValues=False)
        pleth_plot.getAxis("bottom").setStyle(showValues=False)
        pleth_plot.setMouseEnabled(x=False, y=False)
        pleth_plot.hideButtons()
        pleth_plot.setMenuEnabled(False)
        pleth_plot.setXRange(-PLETH_STRIP_S, 0, padding=0)
        self.pleth_curve = pleth_plot.plot(pen=_pen(theme.PARAMETER_COLOURS[Parameter.PLETH], 2), connect="finite")
        self.pleth_widget.setVisible(False)
        layout.addWidget(self.pleth_widget)

    def _ensure_ventilation_plot(self) -> None:
        """Add the RR / EtCO2 plot under the others, the first time the device sends either."""
        if "vent" in self.plots:
            return
        plot = self.graphics.addPlot(
            row=self.graphics.ci.layout.rowCount(), col=0, axisItems={"bottom": pg.DateAxisItem()}
        )
        rr, etco2 = PARAMETER_LABELS["rr"], PARAMETER_LABELS["etco2"]
        title = f"{rr.short} {rr.unit} · {etco2.short} {etco2.unit}"
        plot.setLabel("left", title, color=theme.TEXT, size=f"{AXIS_FONT_PX + 1}px")
        for side in ("left", "bottom"):
            plot.getAxis(side).setTickFont(_font(AXIS_FONT_PX))
            plot.getAxis(side).setTextPen(theme.TEXT_DIM)
        plot.setMouseEnabled(x=True, y=False)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.getAxis("left").setWidth(64)
        plot.setYRange(*NOMINAL_RANGE["vent"], padding=0)
        plot.setXLink(self.plots["hr"])
        plot.getViewBox().sigRangeChangedManually.connect(self._user_moved_view)
        plot.getViewBox().sigResized.connect(self._plot_resized)
        self.plots["vent"] = plot
        for parameter in (Parameter.RR, Parameter.ETCO2):
            name = PARAMETER_LABELS[parameter].short
            curve = plot.plot(pen=_pen(theme.PARAMETER_COLOURS[parameter], 2.5), name=name, connect="finite")
            self._tune(curve)
            self.curves[parameter] = curve
            self.questionable_marks[parameter] = plot.plot(
                pen=None, symbol="o", symbolSize=5, symbolBrush=theme.QUESTIONABLE, symbolPen=None
            )
        for span, regions in self._span_items:
            colour = _over_background(theme.PHASE_COLOURS.get(span.phase.value, "#333333"), PHASE_BAND_ALPHA)
            end = span.end if span.end is not None else (self.now or span.start)
            region = pg.LinearRegionItem(values=(span.start, end), movable=False, brush=colour, pen=pg.mkPen(None))
            region.setZValue(-20)
            plot.addItem(region, ignoreBounds=True)
            regions.append(region)

    def curve_data(self, parameter: Parameter) -> tuple[np.ndarray, np.ndarray]:
        """Everything drawn for a parameter's trend (history and tail joined)."""
        x, y = self.curves[parameter].getData()
        history = self.history_curves.get(parameter)
        if history is None or x is None:
            return x, y
        hx, hy = history.getData()
        if hx is None or not len(hx):
            return x, y
        return np.concatenate([hx[:-1], x]), np.concatenate([hy[:-1], y])

    @staticmethod
    def _tune(curve: pg.PlotDataItem) -> None:
        # Long sessions stay cheap to draw: only the visible part, reduced to min/max per pixel.
        curve.setClipToView(True)
        curve.setDownsampling(auto=True, method="peak")
        # One min/max pair per two pixel columns draws the same picture as every sample under a
        # 2.5-pixel pen (pyqtgraph's default keeps five samples a pixel): every extreme still shows,
        # and a 90-minute trend costs a third of the drawing it did at every tick.
        curve.opts["autoDownsampleFactor"] = TREND_SAMPLES_PER_PIXEL

    # -- data --------------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget all data, phases, limits and markers."""
        for series in self.series.values():
            series.clear()
        for parameter, history in self.history_curves.items():
            history.setData([], [])
            self._history_cut[parameter] = 0
        self.cuff_pairs.clear()
        self._cuff_partial.clear()
        self._pairs_dirty = True
        self.pleth.clear()
        self._pleth_dirty = True
        self.set_phases([])
        self.clear_markers()
        self.session_start = None
        self.now = None

    def add_readings(self, readings: Sequence[Reading]) -> None:
        """Take a batch of readings into the buffers (drawn at the next :meth:`refresh`)."""
        grouped: dict[Parameter, tuple[list[float], list[float]]] = {}
        doubtful: dict[Parameter, tuple[list[float], list[float]]] = {}
        pleth_t: list[float] = []
        pleth_v: list[float] = []
        for r in readings:
            if r.parameter is Parameter.PLETH:
                pleth_t.append(r.t)
                pleth_v.append(math.nan if r.value is None or not r.reliable else r.value)
                continue
            if r.parameter not in self.series:
                continue  # a parameter this chart does not draw
            if PLOT_OF[r.parameter] == "vent":
                self._ensure_ventilation_plot()
            times, values = grouped.setdefault(r.parameter, ([], []))
            times.append(r.t)
            if r.reliable:
                assert r.value is not None
                values.append(r.value)
                if r.parameter in (Parameter.NIBP_SYS, Parameter.NIBP_DIA):
                    self._pair_cuff(r.t, r.parameter, r.value)
            else:
                values.append(math.nan)
                if r.value is not None:
                    qt, qv = doubtful.setdefault(r.parameter, ([], []))
                    qt.append(r.t)
                    qv.append(r.value)
        for parameter, (times, values) in grouped.items():
            series = self.series[parameter]
            if parameter not in NIBP_PARAMETERS:  # a cuff is a spot value: its line joins cuffs minutes apart
                filled = series.good.n
                series.good.extend(*with_gaps(times, values, float(series.good.t[filled - 1]) if filled else None))
            else:
                series.good.extend(times, values)
            series.dirty = True
        for parameter, (times, values) in doubtful.items():
            series = self.series[parameter]
            series.questionable.extend(times, values)
            series.dirty = True
        if pleth_t:
            self.pleth.extend(pleth_t, pleth_v)
            self._pleth_dirty = True
        if readings:
            first = min(r.t for r in readings)
            if self.session_start is None or first < self.session_start:
                self.session_start = first

    def _pair_cuff(self, t: float, parameter: Parameter, value: float) -> None:
        partial = self._cuff_partial.setdefault(t, {})
        partial[parameter] = value
        if Parameter.NIBP_SYS in partial and Parameter.NIBP_DIA in partial:
            self.cuff_pairs.extend([t, t], [partial[Parameter.NIBP_SYS], partial[Parameter.NIBP_DIA]])
            self._pairs_dirty = True
            del self._cuff_partial[t]
        # A cuff that never sends its partner value must not grow this dict for ever.
        if len(self._cuff_partial) > 16:
            self._cuff_partial.pop(min(self._cuff_partial))

    # -- phases, limits, markers --------------------------------------------------------------

    def set_phase_words(self, words: Mapping[Phase, str]) -> None:
        """Name the bands as the session's protocol names its phases (``DOSING`` for a nasal spray)."""
        words = dict(words)
        if words == self.phase_words:
            return
        self.phase_words = words
        spans, self._spans = self._spans, []
        self.set_phases(spans)

    def set_phases(self, spans: Sequence[PhaseSpan]) -> None:
        """Shade each phase; an open span reaches to now at every refresh."""
        spans = list(spans)
        if spans == self._spans:
            return
        for _span, regions in self._span_items:
            for plot, region in zip(self.plots.values(), regions, strict=True):
                plot.removeItem(region)
        self._span_items = []
        for anchor in self._phase_labels:
            self.plots["hr"].removeItem(anchor)
        self._phase_labels = []
        for index, span in enumerate(spans):
            regions = []
            colour = _over_background(theme.PHASE_COLOURS.get(span.phase.value, "#333333"), PHASE_BAND_ALPHA)
            end = span.end if span.end is not None else (self.now or span.start)
            band = pg.LinearRegionItem if span.end is not None else OpenPhaseBand
            for plot in self.plots.values():
                region = band(values=(span.start, end), movable=False, brush=colour, pen=pg.mkPen(None))
                region.setZValue(-20)
                _static(region)
                for edge in region.lines:
                    _static(edge)
                plot.addItem(region, ignoreBounds=True)
                regions.append(region)
            self._span_items.append((span, regions))
            self._phase_labels.append(self._phase_label(span, index))
        self._spans = spans

    def _phase_label(self, span: PhaseSpan, index: int) -> pg.InfiniteLine:
        """The phase's name at its start, drawn over every band: a short band's name runs on whole over
        the next one (names take three heights in turn, so that neither neighbours nor baseline and recovery meet:
        with two, a long recovery drew "BASELINERECOVERY").

        Returns the invisible line that carries the name; the name is its child and goes with it (a
        reference kept to the name alone would outlive the line and crash when both are freed).
        """
        anchor = pg.InfiniteLine(pos=span.start, angle=90, pen=pg.mkPen(None))
        text = self.phase_words.get(span.phase, span.phase.value).upper()
        label = pg.InfLineLabel(anchor, text=text, position=0.97 - 0.1 * (index % 3), anchors=[(0, 0), (0, 0)])
        label.setColor(theme.TEXT)
        label.setFont(_font(LABEL_FONT_PX + 1, bold=True))
        anchor.setZValue(-3)
        _static(anchor)
        self.plots["hr"].addItem(anchor, ignoreBounds=True)
        return anchor

    def set_limits(self, limits: Sequence[LimitLine]) -> None:
        """Draw these alarm limits (replacing earlier ones), every one of them labelled.

        Lines closer than a label's height on screen share one label (their texts side by side,
        each in its priority's colour), set below the lowest or above the highest of them: no label
        is struck through by another limit line and no two labels write over each other. The
        labels are laid out again whenever a plot's value range or height changes.
        """
        for plot, item in self._limit_items:
            plot.removeItem(item)
        self._limit_items = []
        # A limit of a plot not shown (ventilation before the device sent RR or EtCO2) waits for it.
        self._limits = [lim for lim in limits if PLOT_OF.get(lim.parameter) in self.plots]
        for limit in self._limits:
            plot = self.plots[PLOT_OF[limit.parameter]]
            colour = theme.ALARM_COLOURS[limit.priority]
            line = pg.InfiniteLine(pos=limit.value, angle=0, pen=_pen(colour, 1, Qt.PenStyle.DashLine))
            line.setZValue(-5)
            _static(line)
            plot.addItem(line, ignoreBounds=True)
            self._limit_items.append((plot, line))
        self._limit_layout_keys = {}
        self._layout_limit_labels()

    @property
    def phase_names(self) -> list[pg.InfLineLabel]:
        """The phase names on the chart, first phase first."""
        return [item for anchor in self._phase_labels for item in anchor.childItems()
                if isinstance(item, pg.InfLineLabel)]

    def label_room(self, key: str) -> float:
        """A limit label's height on plot ``key``, in the plot's value units."""
        box = self.plots[key].getViewBox()
        low, high = box.viewRange()[1]
        height_px = box.height()
        if height_px <= 1 or high <= low:
            low, high = NOMINAL_RANGE[key]
            height_px = 120.0
        return LIMIT_LABEL_PX * (high - low) / height_px

    def _label_width_px(self, key: str) -> float:
        """The widest a limit label may be on plot ``key``: what the live view keeps for labels at its right edge."""
        width_px = self.plots[key].getViewBox().width()
        return width_px * LABEL_GUTTER_SHARE - LABEL_GAP_PX if width_px > 1 else math.inf

    def _label_rows(self, group: Sequence[LimitLine], most: float) -> list[list[LimitLine]]:
        """A group's texts, highest limit first, in as many rows as keep the label within ``most`` pixels."""
        ordered = sorted(group, key=lambda lim: -lim.value)
        return label_rows(ordered, [self._label_metrics.horizontalAdvance(lim.label) for lim in ordered],
                          self._separator_px, most)

    def _row_count(self, group: Sequence[LimitLine], most: float) -> int:
        return len(self._label_rows(group, most))

    def _layout_limit_labels(self) -> None:
        for key, plot in self.plots.items():
            room = self.label_room(key)
            most = self._label_width_px(key)
            layout_key = (round(room, 3), len(self._limits), round(most) if math.isfinite(most) else -1)
            if self._limit_layout_keys.get(key) == layout_key:
                continue
            self._limit_layout_keys[key] = layout_key
            for info in [i for i in self.limit_labels if i.plot == key]:
                plot.removeItem(info.item)
                self.limit_labels.remove(info)
            mine = sorted((lim for lim in self._limits if PLOT_OF[lim.parameter] == key), key=lambda lim: lim.value)
            low, high = plot.getViewBox().viewRange()[1]
            plan = self._plan_limit_labels(mine, room, most, low)
            if all(not above or group[-1].value + height <= high for group, _rows, above, height in plan):
                for group, rows, above, height in plan:
                    self._label_limit_group(key, plot, group, rows, above, height)
            elif mine:
                self._label_crowded_plot(key, plot, mine, room, most, high)

    def _plan_limit_labels(
        self, mine: Sequence[LimitLine], room: float, most: float, bottom: float
    ) -> list[tuple[list[LimitLine], list[list[LimitLine]], bool, float]]:
        """Each group of limits (sorted by value) with its label's rows, side and height in values.

        A group takes in every limit closer to it than its label (wrapped to fit) is high, and its label sits
        below its lowest limit where that space is free and on the plot, else above its highest: no limit line
        crosses a label and no two labels overlap.
        """
        plan = []
        taken = bottom  # the highest value covered by a line or label so far, bottom up
        for group in limit_groups(mine, room, partial(self._row_count, most=most)):
            rows = self._label_rows(group, most)
            height = room * len(rows)
            above = group[0].value - height < taken
            plan.append((group, rows, above, height))
            taken = group[-1].value + (height if above else 0.0)
        return plan

    def _add_limit_label(self, plot: pg.PlotItem, rows: Sequence[str], anchor: tuple[int, int], fill: Any = None
                         ) -> pg.TextItem:
        label = pg.TextItem(html=f"<div align='right'><b>{'<br>'.join(rows)}</b></div>", anchor=anchor, fill=fill)
        label.setFont(self._label_metrics_font)
        label.textItem.document().setDocumentMargin(1)  # its height is then the text's: LIMIT_LABEL_PX a row
        label.setZValue(-3)
        if fill is None:  # a filled label is painted in the scene's coordinates, which a cached one has not
            _static(label)
        plot.addItem(label, ignoreBounds=True)
        return label

    def _label_limit_group(
        self, key: str, plot: pg.PlotItem, group: Sequence[LimitLine], rows: Sequence[Sequence[LimitLine]],
        above: bool, height: float,
    ) -> None:
        value = group[-1].value if above else group[0].value
        html = [LABEL_SEPARATOR.join(_coloured(lim.priority, lim.label) for lim in row) for row in rows]
        label = self._add_limit_label(plot, html, (1, 1) if above else (1, 0))
        texts = tuple(lim.label for row in rows for lim in row)
        self.limit_labels.append(LimitLabel(key, value, above, texts, label, height, len(rows)))
        self._place_limit_label(label, value)

    def _label_crowded_plot(
        self, key: str, plot: pg.PlotItem, mine: Sequence[LimitLine], room: float, most: float, top: float
    ) -> None:
        """One label for all the plot's limits, each kind named once with its values, highest first."""
        kinds: dict[str, list[LimitLine]] = {}
        for lim in sorted(mine, key=lambda lim: -lim.value):
            kinds.setdefault(lim.kind or lim.label, []).append(lim)
        items: list[tuple[str, tuple[str, ...]]] = []
        widths: list[float] = []
        for kind, limits in kinds.items():
            if limits[0].kind:
                plain = f"{kind} " + " ".join(lim.figure for lim in limits)
                html = f"<span style='color:{theme.TEXT}'>{escape(kind)}</span> " + " ".join(
                    _coloured(lim.priority, lim.figure) for lim in limits)
            else:
                plain, html = limits[0].label, _coloured(limits[0].priority, limits[0].label)
            items.append((html, tuple(lim.label for lim in limits)))
            widths.append(self._label_metrics.horizontalAdvance(plain))
        rows = label_rows(items, widths, self._separator_px, most)
        html_rows = [LABEL_SEPARATOR.join(html for html, _texts in row) for row in rows]
        label = self._add_limit_label(plot, html_rows, (1, 0), fill=pg.mkBrush(theme.BACKGROUND))
        texts = tuple(text for row in rows for _html, texts in row for text in texts)
        self.limit_labels.append(LimitLabel(key, top, False, texts, label, room * len(rows), len(rows), crowded=True))
        self._place_limit_label(label, top)

    def _place_limit_label(self, label: pg.TextItem, value: float) -> None:
        # The heart-rate plot leads the time axis (the others follow it, once their link has caught up).
        right = self.plots["hr"].getViewBox().viewRange()[0][1]
        label.setPos(right, value)

    def _place_limit_labels(self, *_args: object) -> None:
        """Keep limit labels at the right edge of the view as it moves."""
        for info in self.limit_labels:
            self._place_limit_label(info.item, info.value)

    @property
    def limit_count(self) -> int:
        """How many limit lines are drawn."""
        return len(self._limit_items)

    def add_events(self, events: Iterable[SessionEvent]) -> None:
        """Mark notes, scores, quick events and technical events on the time axis."""
        for event in events:
            text = marker_text(event, self.phase_words, self.dose_range)
            if text is None:
                continue
            note = event.kind in _NOTE_KINDS
            colour = "#d8c8ff" if note else theme.TEXT_DIM
            for plot in self.plots.values():
                line = pg.InfiniteLine(pos=event.t, angle=90, pen=_pen(colour, 1, Qt.PenStyle.DotLine))
                line.setZValue(-4)
                _static(line)
                plot.addItem(line, ignoreBounds=True)
                self._marker_items.append((plot, line))
            if event.kind in CORRECTABLE:
                self._supersede_marker(event)
            self._markers.append((event.t, text, colour))
            self.marker_count += 1
        self._marker_layout_key = None  # labels are laid out again at the next refresh

    def _supersede_marker(self, event: SessionEvent) -> None:
        """An entry's marker is the newest of what it records: a correction marks the entry it replaces in error."""
        key = assessment_key(event)
        earlier = self._entry_markers.get(key)
        if earlier is not None and is_correction(event):
            t, text, _colour = self._markers[earlier]
            self._markers[earlier] = (t, f"{text} (in error)", theme.TEXT_DIM)
        self._entry_markers[key] = len(self._markers)

    def _layout_marker_labels(self) -> None:
        """Label the event markers; markers closer than a label's width share one label with their count."""
        plot = self.plots["hr"]
        (left, right), _ = plot.getViewBox().viewRange()
        width_px = max(plot.getViewBox().width(), 1.0)
        key = (round(left), round(right), round(width_px), len(self._markers))
        if key == self._marker_layout_key:
            return
        self._marker_layout_key = key
        for item in self._marker_labels:
            plot.removeItem(item)
        self._marker_labels = []
        seconds_per_px = (right - left) / width_px
        self.marker_groups = marker_groups(self._markers, MARKER_LABEL_PX * seconds_per_px)
        (_, (bottom, top)) = plot.getViewBox().viewRange()
        for index, group in enumerate(self.marker_groups):
            t, _text, colour = group[0]
            text = group[0][1] if len(group) == 1 else f"{len(group)} entries"
            label = pg.TextItem(text=text, color=colour, anchor=(0, 0.5))
            label.setFont(_font(LABEL_FONT_PX))
            label.setZValue(-3)
            fraction = 0.62 - self.marker_step * (index % 3)
            label.setPos(t, bottom + fraction * (top - bottom))
            _static(label)
            plot.addItem(label, ignoreBounds=True)
            self._marker_labels.append(label)

    def clear_markers(self) -> None:
        """Remove every event marker."""
        for plot, line in self._marker_items:
            plot.removeItem(line)
        for item in self._marker_labels:
            self.plots["hr"].removeItem(item)
        self._marker_items = []
        self._marker_labels = []
        self._markers = []
        self._entry_markers = {}
        self.marker_groups = []
        self._marker_layout_key = None
        self.marker_count = 0

    def load_session(
        self, readings: Iterable[Reading], events: Sequence[SessionEvent], end: float | None = None
    ) -> None:
        """Show a whole stored session at once (review); the view shows all of it."""
        self.clear()
        batch = list(readings)
        self.add_readings(batch)
        starts = [e.t for e in events]
        if starts:
            self.session_start = min([*starts, *(r.t for r in batch[:1])])
        self.set_phases(phase_spans(events))
        self.add_events(events)
        last = max([*(r.t for r in batch[-1:]), *(e.t for e in events[-1:])], default=self.session_start)
        self.follow = FollowMode.WHOLE
        self.refresh(end if end is not None else last)

    def load_arrays(
        self,
        series: Mapping[Parameter, Any],
        events: Sequence[SessionEvent],
        end: float | None = None,
    ) -> None:
        """Show a whole stored session from per-parameter arrays (review), with no loop per reading.

        ``series`` maps a parameter to an object with ``t``, ``value`` (NaN where not trusted),
        ``raw`` and ``doubtful`` arrays, as :func:`monitor.review_arrays.trend_arrays` returns them.
        """
        self.clear()
        first: list[float] = []
        last: list[float] = []
        for parameter, arrays in series.items():
            target = self.series.get(parameter)
            if target is None or not len(arrays.t):
                continue
            if PLOT_OF[parameter] == "vent":
                self._ensure_ventilation_plot()
            if parameter in NIBP_PARAMETERS:
                target.good.extend(arrays.t, arrays.value)
            else:
                target.good.extend(*with_gaps(arrays.t, arrays.value))
            doubtful = np.asarray(arrays.doubtful, dtype=bool)
            if doubtful.any():
                target.questionable.extend(arrays.t[doubtful], arrays.raw[doubtful])
            target.dirty = True
            first.append(float(arrays.t[0]))
            last.append(float(arrays.t[-1]))
        systolic, diastolic = series.get(Parameter.NIBP_SYS), series.get(Parameter.NIBP_DIA)
        if systolic is not None and diastolic is not None:
            sys_ok, dia_ok = np.isfinite(systolic.value), np.isfinite(diastolic.value)
            both, i, j = np.intersect1d(systolic.t[sys_ok], diastolic.t[dia_ok], return_indices=True)
            if both.size:
                pair_y = np.empty(2 * both.size)
                pair_y[0::2] = systolic.value[sys_ok][i]
                pair_y[1::2] = diastolic.value[dia_ok][j]
                self.cuff_pairs.extend(np.repeat(both, 2), pair_y)
                self._pairs_dirty = True
        first.extend(e.t for e in events[:1])
        last.extend(e.t for e in events[-1:])
        self.session_start = min(first) if first else None
        self.set_phases(phase_spans(events))
        self.add_events(events)
        self.follow = FollowMode.WHOLE
        self.refresh(end if end is not None else max(last, default=self.session_start))

    def show_pleth_window(self, loader: Callable[[float, float], tuple[np.ndarray, np.ndarray]]) -> None:
        """Lay a stored waveform under the trends, read through ``loader(start, end)`` only for what is on screen.

        A whole day of 75 Hz samples is never read at once: while more than a readable span is on
        screen the track shows a hint, and when the view is zoomed in the samples of the view (and
        a margin either side, for panning) are read.
        """
        self._pleth_loader = loader
        self._pleth_loaded = (math.inf, -math.inf)
        self.show_pleth_track(np.empty(0), np.empty(0))

    def show_pleth_track(self, t: np.ndarray, v: np.ndarray) -> None:
        """Lay a stored waveform under the trends on the same time axis (review of a whole session)."""
        if self.pleth_track is None:
            plot = self.graphics.addPlot(
                row=self.graphics.ci.layout.rowCount(), col=0, axisItems={"bottom": pg.DateAxisItem()}
            )
            plot.setLabel("left", "Pleth", color=theme.TEXT, size=f"{AXIS_FONT_PX + 1}px")
            plot.getAxis("left").setWidth(64)
            plot.getAxis("left").setStyle(showValues=False)
            plot.getAxis("bottom").setTickFont(_font(AXIS_FONT_PX))
            plot.getAxis("bottom").setTextPen(theme.TEXT_DIM)
            plot.setMouseEnabled(x=True, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            # Its own data must not widen the shared time axis: the view is the chart's to set.
            plot.getViewBox().disableAutoRange()
            plot.setXLink(self.plots["hr"])
            plot.getViewBox().sigRangeChangedManually.connect(self._user_moved_view)
            # The time labels move to the lowest plot.
            self.plots["nibp"].getAxis("bottom").setStyle(showValues=False)
            self.graphics.ci.layout.setRowStretchFactor(3, 5)
            # One-pixel pen: a whole session's pleth envelope is thousands of steep strokes, and wider
            # pens send each through Qt's path stroker (seconds per paint instead of milliseconds).
            curve = plot.plot(pen=_pen(theme.PARAMETER_COLOURS[Parameter.PLETH], 1), connect="finite")
            self._tune(curve)
            hint = pg.TextItem("", color=theme.TEXT, anchor=(0, 0), fill=pg.mkBrush(11, 15, 19, 220))
            hint.setFont(_font(LABEL_FONT_PX))
            plot.addItem(hint, ignoreBounds=True)
            self.pleth_track, self.pleth_track_curve, self._pleth_hint = plot, curve, hint
            plot.getViewBox().sigXRangeChanged.connect(self._pleth_view_changed)
        assert self.pleth_track_curve is not None
        self.pleth_track_curve.setData(t, v)
        finite = v[np.isfinite(v)]
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
            pad = 0.05 * (high - low or 1.0)
            self.pleth_track.setYRange(low - pad, high + pad, padding=0)
        self._apply_follow()
        self._pleth_view_changed()

    def _pleth_view_changed(self, *_args: object) -> None:
        """Wider than a readable waveform, the pleth track shows a hint to zoom in instead."""
        if self.pleth_track is None or self.pleth_track_curve is None:
            return
        (left, right), (_low, high) = self.pleth_track.getViewBox().viewRange()
        readable = right - left <= PLETH_READABLE_S
        if self._pleth_loader is not None:
            self._load_pleth_window(left, right, readable)
            (left, right), (_low, high) = self.pleth_track.getViewBox().viewRange()
        # Minutes of pulses squeezed into a few pixels are a solid band that says nothing and hides
        # nothing worth seeing: the waveform is drawn only where its shape can be read.
        self.pleth_track_curve.setVisible(readable)
        self._pleth_hint.setText("" if readable else "pleth recorded · zoom in to under 2 minutes to see the waveform")
        self._pleth_hint.setPos(left, high)

    def _load_pleth_window(self, left: float, right: float, readable: bool) -> None:
        assert self._pleth_loader is not None and self.pleth_track_curve is not None
        loaded_from, loaded_to = self._pleth_loaded
        if not readable:
            if loaded_from <= loaded_to:  # let go of the samples: nothing of them can be read now
                self._pleth_loaded = (math.inf, -math.inf)
                self.pleth_track_curve.setData([], [])
            return
        if loaded_from <= left and right <= loaded_to:
            return
        start, end = left - PLETH_READABLE_S, right + PLETH_READABLE_S
        t, v = self._pleth_loader(start, end)
        keep = (t >= start) & (t <= end)
        t, v = t[keep], v[keep]
        self._pleth_loaded = (start, end)
        self.pleth_track_curve.setData(t, v)
        finite = v[np.isfinite(v)]
        if finite.size and self.pleth_track is not None:
            low, high = float(finite.min()), float(finite.max())
            pad = 0.05 * (high - low or 1.0)
            self.pleth_track.setYRange(low - pad, high + pad, padding=0)

    # -- drawing ------------------------------------------------------------------------------

    def refresh(self, now: float | None = None) -> None:
        """Redraw what changed since the last refresh: one setData per changed curve."""
        if now is not None:
            self.now = now if self.now is None else max(self.now, now)
        heart_rate = self.series[Parameter.HR]
        if heart_rate.dirty:
            self.series[Parameter.PR].dirty = True  # the pulse rate is drawn where the heart rate is not
        for parameter, series in self.series.items():
            if not series.dirty:
                continue
            series.dirty = False
            if parameter not in self.curves:
                continue  # ventilation before its first value: no plot yet
            t, v = series.good.view()
            drawn = self._pulse_rate_drawn if parameter is Parameter.PR else _as_stored
            # A review shows a finished session: nothing is added, so nothing is gained by splitting it.
            history = self.history_curves.get(parameter) if self.live else None
            if history is None:
                self.curves[parameter].setData(t, drawn(t, v))
            else:
                cut = int(np.searchsorted(t, _history_end(t), side="right")) if t.size else 0
                if cut != self._history_cut[parameter]:
                    self._history_cut[parameter] = cut
                    history.setData(t[:cut], drawn(t[:cut], v[:cut]))
                # The tail starts at the history's last point, so the line has no seam. Only the tail is worked
                # on at a tick: the history is drawn again only when it grows (once a minute).
                start = max(cut - 1, 0)
                self.curves[parameter].setData(t[start:], drawn(t[start:], v[start:]))
            marks = self.questionable_marks.get(parameter)
            if marks is not None:
                marks.setData(*series.questionable.view())
        if self._pairs_dirty:
            self._pairs_dirty = False
            self.cuff_lines.setData(*self.cuff_pairs.view())
        self._draw_pleth_strip()
        for span, regions in self._span_items:
            if span.end is None and self.now is not None:
                for region in regions:
                    region.setRegion((span.start, max(self.now, span.start)))
        self._fit_values()
        self._apply_follow()
        self._layout_limit_labels()  # placed at the view's right edge whenever the time axis moves
        self._layout_marker_labels()

    def _pulse_rate_drawn(self, t: np.ndarray, v: np.ndarray) -> np.ndarray:
        """These pulse rates as the heart-rate plot draws them (hidden where an ECG heart rate is drawn)."""
        return pulse_rate_where_no_heart_rate(t, v, *self.series[Parameter.HR].good.view())

    def _draw_pleth_strip(self) -> None:
        """The pleth strip: the last 10 s up to now, so a waveform that stopped coming (link lost, a device that
        sends none) scrolls out instead of standing there as if live."""
        t, v = self.pleth.ordered()
        if not t.size:
            return
        end = float(t[-1]) if self.now is None else max(self.now, float(t[-1]))
        if not self._pleth_dirty and end == self._pleth_drawn_to:
            return
        self._pleth_dirty = False
        self._pleth_drawn_to = end
        self.pleth_widget.setVisible(True)
        self.pleth_curve.setData(t - end, v)

    def _plot_resized(self, *_args: object) -> None:
        """A plot's height changed: the room kept for markers is counted in pixels, so fit again."""
        self._fit_values()
        self._layout_limit_labels()

    def _fit_values(self) -> None:
        """Each plot's value range: its nominal range, widened to every value with room above and below
        for what is drawn at a value (``marker_room_px``: a cuff's triangles, the review's alarm rings)."""
        for key, plot in self.plots.items():
            low, high = NOMINAL_RANGE[key]
            ranges = [series.good.value_range()
                      for parameter, series in self.series.items() if PLOT_OF[parameter] == key]
            found = [r for r in ranges if r is not None]
            if found:
                data_low, data_high = min(r[0] for r in found), max(r[1] for r in found)
                usable_px = plot.getViewBox().height() - 2 * self.marker_room_px
                span = max(high, data_high) - min(low, data_low)
                pad = 5.0 if usable_px < 20 else max(5.0, self.marker_room_px * span / usable_px)
                low, high = min(low, data_low - pad), max(high, data_high + pad)
            current = plot.getViewBox().viewRange()[1]
            if abs(current[0] - low) > 0.5 or abs(current[1] - high) > 0.5:
                plot.setYRange(low, high, padding=0)

    def _apply_follow(self) -> None:
        if self.now is None or self.session_start is None or self.follow is FollowMode.HOLD:
            return
        view = self.plots["hr"].getViewBox()
        gutter = self.label_gutter()
        if self.follow is FollowMode.WHOLE:
            span = max(self.now - self.session_start, 60.0)
            if self.live:
                left, right = self.session_start, whole_session_right_edge(self.session_start, self.now, gutter)
            else:
                # The first phase's label and the last marker's text stay inside the plot.
                left = self.session_start - 0.01 * span
                right = self.session_start + span + max(30.0, 0.03 * span) + 0.04 * span
        else:
            width = view.viewRange()[0][1] - view.viewRange()[0][0]
            right = self.now + max(0.03, gutter) * width
            left = right - width
        self._applying_range = True
        try:
            view.setXRange(left, right, padding=0)
        finally:
            self._applying_range = False

    def label_gutter(self) -> float:
        """The share of the plots' width the widest limit label takes at their right edge (at most a third)."""
        width_px = self.plots["hr"].getViewBox().width()
        if width_px <= 0:
            return 0.0
        widest = max((info.item.mapRectToScene(info.item.boundingRect()).width() for info in self.limit_labels),
                     default=0.0)
        return min((widest + LABEL_GAP_PX) / width_px if widest else 0.0, LABEL_GUTTER_SHARE)

    def _user_moved_view(self, *_args: object) -> None:
        if self._applying_range or self.now is None:
            return
        left, right = self.plots["hr"].getViewBox().viewRange()[0]
        width = right - left
        mode = FollowMode.TAIL if right >= self.now - 0.02 * width else FollowMode.HOLD
        self._set_follow(mode)

    def _set_follow(self, mode: FollowMode) -> None:
        if not self.live and mode is FollowMode.TAIL:
            mode = FollowMode.HOLD  # a stored session has no "now" to follow
        self.follow = mode
        self.live_button.setEnabled(mode is not FollowMode.WHOLE)
        self.view_label.setText(self.ended or _VIEW_TEXT[self.live][mode])
        self.follow_changed.emit(mode.value)

    def set_ended(self, text: str) -> None:
        """The live session's recording ended: the line above the chart no longer says "live"."""
        self.ended = text
        self.view_label.setText(text)

    def go_live(self) -> None:
        """Return to the whole-session live view."""
        self._set_follow(FollowMode.WHOLE)
        self._apply_follow()

    def show_range(self, left: float, right: float) -> None:
        """Show a time span (as a user zoom would) and stop following."""
        self.plots["hr"].getViewBox().setXRange(left, right, padding=0)
        self._set_follow(FollowMode.TAIL if self.now is not None and right >= self.now else FollowMode.HOLD)

    def x_range(self) -> tuple[float, float]:
        """The time span on screen."""
        left, right = self.plots["hr"].getViewBox().viewRange()[0]
        return float(left), float(right)

    def pleth_samples(self) -> np.ndarray:
        """The samples of the pleth strip, oldest first."""
        return self.pleth.ordered()[1]
