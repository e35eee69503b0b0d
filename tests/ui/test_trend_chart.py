"""The reusable trend chart: batches, cuff pairs, questionable values, phases, limits, follow modes, review load."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from drivers.core.readings import Flag, Parameter, Reading
from monitor.alarms.model import Priority
from monitor.session import EventKind, Phase, SessionEvent
from ui.trend_buffer import RingBuffer, TrendBuffer
from ui.trend_chart import (
    LIMIT_LABEL_PX,
    PLETH_CAPACITY,
    PLETH_STRIP_S,
    PLOT_OF,
    FollowMode,
    LimitLine,
    PhaseSpan,
    TrendChart,
    marker_text,
    phase_spans,
)

T0 = 1_790_000_000.0


def _numerics(seconds: int, start: float = T0) -> list[Reading]:
    out = []
    for i in range(seconds):
        out.append(Reading(start + i, Parameter.HR, 70.0 + i % 5, "sim"))
        out.append(Reading(start + i, Parameter.SPO2, 97.0, "sim"))
    return out


def _cuff(t: float, sys_v: float, dia_v: float) -> list[Reading]:
    return [Reading(t, Parameter.NIBP_SYS, sys_v, "sim"), Reading(t, Parameter.NIBP_DIA, dia_v, "sim"),
            Reading(t, Parameter.NIBP_MEAN, round(dia_v + (sys_v - dia_v) / 3), "sim")]


def test_a_batch_becomes_one_curve_per_parameter_and_cuff_values_are_joined_per_measurement(chart: TrendChart) -> None:
    chart.add_readings(_numerics(120) + _cuff(T0 + 30, 130, 80) + _cuff(T0 + 90, 150, 95))
    chart.refresh(T0 + 120)
    x, y = chart.curve_data(Parameter.HR)
    assert len(x) == 120 and y[0] == 70.0
    assert list(x) == [T0 + i for i in range(120)]
    px, py = chart.cuff_lines.getData()
    assert list(px) == [T0 + 30, T0 + 30, T0 + 90, T0 + 90]
    assert list(py) == [130, 80, 150, 95]
    _, my = chart.curves[Parameter.NIBP_MEAN].getData()
    assert list(my) == [97, 113]


def test_unreliable_values_leave_a_gap_and_are_marked_apart(chart: TrendChart) -> None:
    batch = _numerics(10)
    batch += [Reading(T0 + 10, Parameter.SPO2, 80.0, "sim", frozenset({Flag.ARTIFACT})),
              Reading(T0 + 11, Parameter.SPO2, None, "sim", frozenset({Flag.SENSOR_OFF}))]
    chart.add_readings(batch)
    chart.refresh(T0 + 12)
    _, y = chart.series[Parameter.SPO2].good.view()
    assert np.isnan(y[-2:]).all()
    qx, qy = chart.questionable_marks[Parameter.SPO2].getData()
    assert list(qx) == [T0 + 10] and list(qy) == [80.0]


def test_whole_session_follow_zoom_into_the_past_and_back_to_live(chart: TrendChart) -> None:
    chart.add_readings(_numerics(600))
    chart.refresh(T0 + 600)
    left, right = chart.x_range()
    assert left == pytest.approx(T0) and right > T0 + 600
    chart.show_range(T0 + 100, T0 + 200)  # looking back
    assert chart.follow is FollowMode.HOLD and chart.live_button.isEnabled()
    chart.add_readings(_numerics(60, T0 + 600))
    chart.refresh(T0 + 660)
    assert chart.x_range() == pytest.approx((T0 + 100, T0 + 200))  # data flow, the view stays
    assert chart.series[Parameter.HR].good.n == 660
    chart.show_range(T0 + 560, T0 + 660)  # zoomed on now: keeps scrolling at this width
    assert chart.follow is FollowMode.TAIL
    chart.add_readings(_numerics(30, T0 + 660))
    chart.refresh(T0 + 690)
    left, right = chart.x_range()
    assert right - left == pytest.approx(100) and right >= T0 + 690
    chart.live_button.click()
    assert chart.follow is FollowMode.WHOLE and not chart.live_button.isEnabled()
    assert chart.x_range()[0] == pytest.approx(T0)


def test_phases_limits_and_markers_are_drawn(chart: TrendChart) -> None:
    events = [
        SessionEvent(T0, EventKind.BASELINE_STARTED, Phase.BASELINE),
        SessionEvent(T0 + 300, EventKind.BASELINE_TAKEN, Phase.BASELINE),
        SessionEvent(T0 + 300, EventKind.INFUSION_STARTED, Phase.INFUSION),
        SessionEvent(T0 + 400, EventKind.NOTE, Phase.INFUSION, "AB", {"text": "feels warm"}),
        SessionEvent(T0 + 500, EventKind.SCORE, Phase.INFUSION, "AB", {"scale": "MOAA/S", "value": 4}),
    ]
    spans = phase_spans(events)
    assert spans == [PhaseSpan(Phase.BASELINE, T0, T0 + 300), PhaseSpan(Phase.INFUSION, T0 + 300, None)]
    chart.set_phases(spans)
    chart.set_phases([PhaseSpan(Phase.BASELINE, T0, T0 + 240), PhaseSpan(Phase.INFUSION, T0 + 240, None)])
    chart.set_phases(spans)  # bands and names replaced (this once freed a name twice and crashed)
    assert [name.toPlainText() for name in chart.phase_names] == ["BASELINE", "INFUSION"]
    chart.set_phase_words({Phase.BASELINE: "pre-dose", Phase.INFUSION: "dosing"})  # a nasal spray's protocol
    assert [name.toPlainText() for name in chart.phase_names] == ["PRE-DOSE", "DOSING"]
    chart.add_events(events)
    assert chart.marker_count == 3  # baseline taken, note, score (phase starts are bands)
    assert marker_text(events[4]) == "MOAA/S 4"
    stopped = SessionEvent(T0 + 600, EventKind.INFUSION_STOPPED, Phase.INFUSION)
    assert marker_text(stopped) == "infusion stopped"
    assert marker_text(stopped, {Phase.INFUSION: "dosing"}) == "dosing stopped"
    chart.set_limits([LimitLine(Parameter.SPO2, 90, Priority.HIGH, "*** SpO2 < 90", upper=False),
                      LimitLine(Parameter.NIBP_SYS, 180, Priority.HIGH, "*** SBP > 180")])
    assert chart.limit_count == 2
    chart.add_readings(_numerics(700))
    chart.refresh(T0 + 700)
    infusion_region = chart._span_items[1][1][0]
    assert infusion_region.getRegion() == pytest.approx((T0 + 300, T0 + 700))


def test_a_short_phase_keeps_its_whole_name_over_the_next_band(chart: TrendChart, qtbot: Any) -> None:
    """Two minutes of baseline in a long session make a band narrower than the word BASELINE: the name
    runs on over the infusion band instead of being painted over by it."""
    events = [SessionEvent(T0, EventKind.BASELINE_STARTED, Phase.BASELINE),
              SessionEvent(T0 + 120, EventKind.INFUSION_STARTED, Phase.INFUSION)]
    chart.load_session(_numerics(3600), events)
    qtbot.wait(50)
    box = chart.plots["hr"].getViewBox()
    band_end = chart.graphics.mapFromScene(box.mapViewToScene(QPointF(T0 + 120, 0)))
    band_end_x = chart.graphics.mapTo(chart, band_end).x()
    label = chart.phase_names[0]
    assert label.toPlainText() == "BASELINE"
    text_rect = label.sceneBoundingRect()
    origin = chart.graphics.mapTo(chart, chart.graphics.mapFromScene(text_rect.topLeft()))
    assert origin.x() + text_rect.width() > band_end_x + 10, "the band is wide enough to hold its name: nothing to show"
    image = chart.grab().toImage()
    left = max(int(band_end_x) + 3, origin.x())
    right = origin.x() + int(text_rect.width())
    bright = sum(
        1
        for x in range(left, right)
        for y in range(origin.y(), origin.y() + int(text_rect.height()))
        if image.pixelColor(x, y).lightness() > 180
    )
    assert bright > 20, f"no text drawn past the band's end ({bright} bright pixels)"


@pytest.mark.parametrize("height", [600, 320])
def test_markers_at_the_highest_and_lowest_values_stay_whole_inside_the_plot(
    chart: TrendChart, qtbot: Any, height: int
) -> None:
    """A cuff of 195/45 sits at both ends of the NIBP plot; a marker drawn at either value (a ring of
    ``marker_room_px`` radius in the review) must not be cut by the plot's edge, at any window height."""
    chart.marker_room_px = 15.0
    chart.resize(1000, height)
    chart.load_session(_numerics(600) + _cuff(T0 + 300, 195, 45), [])
    qtbot.wait(50)
    box = chart.plots["nibp"].getViewBox()
    low, high = box.viewRange()[1]
    px_per_unit = box.height() / (high - low)
    assert (high - 195) * px_per_unit >= chart.marker_room_px - 0.5
    assert (45 - low) * px_per_unit >= chart.marker_room_px - 0.5
    chart.resize(1000, height + 200)  # taller: the room is kept in pixels, so the range narrows again
    qtbot.wait(50)
    low2, high2 = box.viewRange()[1]
    assert high2 < high and (high2 - 195) * box.height() / (high2 - low2) >= chart.marker_room_px - 0.5


def test_a_stored_session_loads_at_once_for_review(chart: TrendChart) -> None:
    events = [SessionEvent(T0, EventKind.BASELINE_STARTED, Phase.BASELINE),
              SessionEvent(T0 + 60, EventKind.INFUSION_STARTED, Phase.INFUSION),
              SessionEvent(T0 + 5400, EventKind.RECOVERY_STARTED, Phase.RECOVERY),
              SessionEvent(T0 + 5400 + 1800, EventKind.SESSION_COMPLETED, Phase.COMPLETE)]
    readings = _numerics(7200) + [r for k in range(0, 7200, 300) for r in _cuff(T0 + k, 125, 78)]
    chart.load_session(sorted(readings, key=lambda r: r.t), events)
    assert chart.series[Parameter.HR].good.n == 7200
    assert [s.phase for s in chart._spans] == [Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY]
    assert chart._spans[-1].end == T0 + 7200
    left, right = chart.x_range()
    assert left == pytest.approx(T0) and right >= T0 + 7199


def test_buffers_grow_by_doubling_and_the_pleth_ring_keeps_the_newest_ten_seconds() -> None:
    buffer = TrendBuffer(capacity=4)
    buffer.extend([1, 2, 3], [1, 2, 3])
    buffer.extend([4, 5, 6], [4, 5, 6])
    assert buffer.t.size == 8 and list(buffer.view()[1]) == [1, 2, 3, 4, 5, 6]
    ring = RingBuffer(PLETH_CAPACITY)
    times = [T0 + i / 75 for i in range(2000)]
    ring.extend(times[:1000], list(range(1000)))
    ring.extend(times[1000:], list(range(1000, 2000)))
    t, v = ring.ordered()
    assert v.size == PLETH_CAPACITY == 750
    assert list(v[:2]) == [1250, 1251] and v[-1] == 1999 and np.all(np.diff(t) > 0)


def test_every_limit_is_labelled_and_no_label_is_crossed_by_another_limit(qtbot: Any) -> None:
    chart = TrendChart()
    qtbot.addWidget(chart)
    chart.resize(900, 600)
    chart.show()
    # The seven NIBP limits of an infusion profile, some a few mmHg apart, and two on SpO2.
    limits = [
        LimitLine(Parameter.NIBP_SYS, 180, Priority.HIGH, "*** SBP > 180"),
        LimitLine(Parameter.NIBP_SYS, 176, Priority.MEDIUM, "** SBP > 176"),
        LimitLine(Parameter.NIBP_SYS, 160, Priority.LOW, "* SBP > 160"),
        LimitLine(Parameter.NIBP_DIA, 139, Priority.MEDIUM, "** DBP > 139"),
        LimitLine(Parameter.NIBP_DIA, 110, Priority.HIGH, "*** DBP > 110"),
        LimitLine(Parameter.NIBP_MEAN, 60, Priority.MEDIUM, "** MAP < 60", upper=False),
        LimitLine(Parameter.NIBP_SYS, 90, Priority.HIGH, "*** SBP < 90", upper=False),
        LimitLine(Parameter.SPO2, 90, Priority.HIGH, "*** SpO2 < 90", upper=False),
        LimitLine(Parameter.SPO2, 88, Priority.HIGH, "*** SpO2 < 88", upper=False),
    ]
    chart.set_limits(limits)
    chart.refresh(T0)
    assert chart.limit_count == len(limits)
    # Labels are laid out again for a smaller chart (a label then covers more of the value range).
    for size in ((900, 600), (700, 330)):
        chart.resize(*size)
        QApplication.processEvents()
        chart.refresh(T0)
        check(chart, limits)


#: The NIBP limits of an infusion profile, five of them within 20 mmHg: on a small screen their one row of texts
#: would be wider than the part of the chart kept for labels.
CLOSE_NIBP_LIMITS = [
    LimitLine(parameter, value, priority, f"{priority.marker} {name} {operator} {value}", upper=operator == ">")
    for parameter, name, operator, value, priority in (
        (Parameter.NIBP_SYS, "SBP", ">", 180, Priority.HIGH), (Parameter.NIBP_SYS, "SBP", ">", 176, Priority.MEDIUM),
        (Parameter.NIBP_SYS, "SBP", ">", 170, Priority.LOW), (Parameter.NIBP_DIA, "DBP", ">", 165, Priority.MEDIUM),
        (Parameter.NIBP_DIA, "DBP", ">", 160, Priority.HIGH), (Parameter.NIBP_MEAN, "MAP", "<", 60, Priority.MEDIUM),
        (Parameter.NIBP_SYS, "SBP", "<", 90, Priority.HIGH),
    )
]


@pytest.mark.parametrize("size", [(1860, 700), (1240, 420), (760, 330)])
def test_close_limits_wrap_into_rows_left_of_the_newest_cuffs(qtbot: Any, size: tuple[int, int]) -> None:
    """However narrow the chart, a label of close limits wraps into rows no wider than the part of the live view
    kept for labels: the newest cuffs are drawn left of it and it stays whole inside its plot."""
    chart = TrendChart()
    qtbot.addWidget(chart)
    chart.resize(*size)
    chart.show()
    chart.set_limits(CLOSE_NIBP_LIMITS)
    chart.session_start = T0
    minutes = 40
    cuffs = [r for m in range(0, minutes, 5) for r in _cuff(T0 + 60 * m + 30, 150 + m, 95)]
    chart.add_readings(sorted(_numerics(minutes * 60) + cuffs, key=lambda r: r.t))
    for _ in range(3):
        chart.refresh(T0 + minutes * 60 - 1)
        QApplication.processEvents()
    check(chart, CLOSE_NIBP_LIMITS)
    box = chart.plots["nibp"].getViewBox()
    newest_cuff = box.mapViewToScene(QPointF(cuffs[-1].t, 0)).x()
    labels = [label for label in chart.limit_labels if label.plot == "nibp"]
    for label in labels:
        drawn = label.item.mapRectToScene(label.item.boundingRect())
        assert newest_cuff < drawn.left(), (label.texts, newest_cuff, drawn.left())
        assert drawn.left() >= box.sceneBoundingRect().left(), label.texts
    # Wrapped only where one row would not fit; one label for the plot only where wrapped ones would not.
    assert (max(label.rows for label in labels) > 1) == (size[0] < 1800)
    assert any(label.crowded for label in labels) == (size[1] < 400)


def test_limit_labels_keep_to_the_right_edge_before_any_data_and_after_a_resize(qtbot: Any) -> None:
    # A window builds its chart and limits before it is shown and before the recorder's first status:
    # nothing refreshes the chart while its plots take their size and their time axes link up.
    chart = TrendChart()
    qtbot.addWidget(chart)
    chart.set_limits([
        LimitLine(Parameter.SPO2, 92, Priority.MEDIUM, "** SpO2 < 92", upper=False),
        LimitLine(Parameter.SPO2, 90, Priority.HIGH, "*** SpO2 < 90", upper=False),
        LimitLine(Parameter.NIBP_SYS, 180, Priority.HIGH, "*** SBP > 180"),
        LimitLine(Parameter.NIBP_DIA, 120, Priority.HIGH, "*** DBP > 120"),
    ])
    for size in ((900, 600), (740, 400)):
        chart.resize(*size)
        chart.show()
        QApplication.processEvents()
        for label in chart.limit_labels:
            box = chart.plots[label.plot].getViewBox()
            right = box.viewRange()[0][1]
            assert label.item.pos().x() == pytest.approx(right), (label.texts, label.item.pos().x(), right)
            # Wholly inside its plot: its right edge at the plot's, not past it.
            drawn = label.item.mapRectToScene(label.item.boundingRect())
            assert drawn.right() <= box.sceneBoundingRect().right() + 1, label.texts


def check(chart: TrendChart, limits: list[LimitLine]) -> None:
    """Every limit labelled once; every label whole on its plot; no label crossed by a limit line (but the one
    label of a plot too short for more, which hides the lines behind it); no two labels overlapping."""
    labelled = [text for label in chart.limit_labels for text in label.texts]
    assert sorted(labelled) == sorted(line.label for line in limits)  # every line labelled, once
    for label in chart.limit_labels:
        room = label.room
        # A label's height on screen, in values: a row of text each.
        assert room == pytest.approx(chart.label_room(label.plot) * label.rows)
        span = (label.value, label.value + room) if label.above else (label.value - room, label.value)
        low, high = chart.plots[label.plot].getViewBox().viewRange()[1]
        assert low - 1e-6 <= span[0] and span[1] <= high + 1e-6, f"{label.texts} is cut at the plot's edge"
        if label.crowded:
            assert [other.plot for other in chart.limit_labels].count(label.plot) == 1
            assert label.item.fill.style() != Qt.BrushStyle.NoBrush  # the lines behind it do not strike it
            continue
        on_plot = [line.value for line in limits if PLOT_OF[line.parameter] == label.plot]
        crossing = [v for v in on_plot if span[0] < v < span[1]]
        assert not crossing, f"{label.texts} is crossed by limits at {crossing}"
        # The room reserved is enough.
        assert label.item.textItem.boundingRect().height() <= LIMIT_LABEL_PX * label.rows

    def extent(label: Any) -> tuple[float, float]:
        room = label.room
        return (label.value, label.value + room) if label.above else (label.value - room, label.value)

    for a in chart.limit_labels:
        for b in chart.limit_labels:
            if a is not b and a.plot == b.plot:
                (a0, a1), (b0, b1) = extent(a), extent(b)
                assert a1 <= b0 or b1 <= a0, f"{a.texts} and {b.texts} overlap"


def test_events_close_in_time_share_one_label_with_their_count(qtbot: Any) -> None:
    chart = TrendChart()
    qtbot.addWidget(chart)
    chart.resize(900, 600)
    chart.show()
    events = [SessionEvent(T0 + 60 * i, EventKind.NOTE, Phase.INFUSION, "AB", {"text": f"note {i}"})
              for i in range(5)]
    events.append(SessionEvent(T0 + 3000, EventKind.NOTE, Phase.INFUSION, "AB", {"text": "alone"}))
    chart.add_readings(_numerics(3600))
    chart.add_events(events)
    chart.refresh(T0 + 3600)
    texts = [item.textItem.toPlainText() for item in chart._marker_labels]
    assert "5 entries" in texts and "alone" in texts and len(texts) == 2
    chart.show_range(T0, T0 + 200)  # zoomed in, they have room again
    chart.refresh(T0 + 3600)
    texts = [item.textItem.toPlainText() for item in chart._marker_labels]
    assert "note 0" in texts and "note 1" in texts


@pytest.mark.parametrize("minutes", [2, 40, 90])
def test_the_newest_values_are_drawn_left_of_the_limit_labels(qtbot: Any, minutes: int) -> None:
    """The labels sit at the right edge of the live view: the view reaches past now by their width, so the last
    minutes of a trend are never drawn under them."""
    chart = TrendChart()
    qtbot.addWidget(chart)
    chart.resize(1000, 600)
    chart.show()
    chart.set_limits([
        LimitLine(Parameter.SPO2, 92, Priority.MEDIUM, "** SpO2 < 92", upper=False),
        LimitLine(Parameter.SPO2, 90, Priority.HIGH, "*** SpO2 < 90", upper=False),
        LimitLine(Parameter.HR, 120, Priority.MEDIUM, "** HR > 120"),
        LimitLine(Parameter.NIBP_SYS, 180, Priority.HIGH, "*** SBP > 180"),
    ])
    chart.session_start = T0
    chart.add_readings(_numerics(minutes * 60))
    for _ in range(3):  # the labels' width is known once they are drawn; the view then makes room for them
        chart.refresh(T0 + minutes * 60 - 1)
        QApplication.processEvents()
    assert chart.follow is FollowMode.WHOLE
    for label in chart.limit_labels:
        box = chart.plots[label.plot].getViewBox()
        newest = box.mapViewToScene(QPointF(T0 + minutes * 60 - 1, label.value)).x()
        left = label.item.mapRectToScene(label.item.boundingRect()).left()
        assert newest < left, (label.texts, newest, left)


def _pleth(seconds: float, start: float = T0) -> list[Reading]:
    return [Reading(start + i / 75, Parameter.PLETH, float(i % 75), "sim") for i in range(int(seconds * 75))]


def test_the_pleth_strip_shows_the_last_ten_seconds_up_to_now_so_a_stopped_wave_scrolls_out(chart: TrendChart) -> None:
    chart.add_readings(_pleth(10))
    chart.refresh(T0 + 10)
    x, _ = chart.pleth_curve.getData()
    assert x[-1] == pytest.approx(-1 / 75)
    # The link is lost (or the new device sends no waveform): 6 s later the last 6 s of the strip are empty...
    chart.refresh(T0 + 16)
    x, _ = chart.pleth_curve.getData()
    assert x[-1] == pytest.approx(-6 - 1 / 75)
    # ... and after 10 s nothing old is left on it.
    chart.refresh(T0 + 21)
    x, _ = chart.pleth_curve.getData()
    assert np.all(x < -PLETH_STRIP_S)


def _oximeter(seconds: int, start: float) -> list[Reading]:
    return [r for i in range(seconds) for r in (Reading(start + i, Parameter.PR, 75.0, "oxi"),
                                                Reading(start + i, Parameter.SPO2, 97.0, "oxi"))]


def _drawn_pulse_rate(chart: TrendChart) -> np.ndarray:
    """The times at which the pulse-rate line is drawn (a hidden curve draws nothing)."""
    if not chart.curves[Parameter.PR].isVisible():
        return np.array([])
    x, y = chart.curve_data(Parameter.PR)
    return x[np.isfinite(y)]


def test_after_a_change_from_an_ecg_monitor_to_an_oximeter_the_pulse_rate_is_drawn(chart: TrendChart) -> None:
    ecg = [r for r in _numerics(120) if r.parameter is Parameter.HR] + [
        Reading(T0 + i, Parameter.PR, 74.0, "ecg") for i in range(120)]
    chart.add_readings(ecg)
    chart.refresh(T0 + 120)
    assert not _drawn_pulse_rate(chart).size  # both there: the ECG's heart rate is the line
    chart.add_readings(_oximeter(120, T0 + 125))
    chart.refresh(T0 + 245)
    drawn = _drawn_pulse_rate(chart)
    assert drawn.min() > T0 + 119 + 10 and drawn.max() == T0 + 244
    assert drawn.size >= 110


def test_a_change_from_an_oximeter_to_an_ecg_monitor_keeps_the_pulse_rate_history(chart: TrendChart) -> None:
    chart.add_readings(_oximeter(120, T0))
    chart.refresh(T0 + 120)
    chart.add_readings(_numerics(120, T0 + 125))
    chart.refresh(T0 + 245)
    drawn = _drawn_pulse_rate(chart)
    assert drawn.min() == T0 and drawn.max() < T0 + 125
    assert drawn.size >= 110
