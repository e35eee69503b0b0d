"""A tick of the live chart works on the newest part of the session, not on the whole of it.

Two hours in, a tick that went over every reading of the session cost the window's thread as much as the session
was long: the pulse rate hidden under the ECG's heart rate was worked out again for the whole session, and each
plot's value range was searched over every value; the band of the phase under way, reaching to now, was drawn
again whole at every tick, with every trend over it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

import ui.trend_chart
from drivers.core.readings import Parameter, Reading
from monitor.session import Phase
from ui.trend_buffer import TrendBuffer
from ui.trend_chart import PhaseSpan, TrendChart, pulse_rate_where_no_heart_rate

T0 = 1_790_000_000.0
HOURS_2 = 7200


def _ecg_and_oximeter(seconds: range) -> list[Reading]:
    """Heart rate from the ECG for the first hour only, the pulse rate and SpO2 throughout."""
    out = []
    for i in seconds:
        if i < 3600:
            out.append(Reading(T0 + i, Parameter.HR, 70.0 + i % 5, "ecg"))
        out.append(Reading(T0 + i, Parameter.PR, 72.0 + i % 3, "oxi"))
        out.append(Reading(T0 + i, Parameter.SPO2, 97.0, "oxi"))
    return out


def test_a_tick_two_hours_in_works_out_the_hidden_pulse_rate_only_for_the_newest_part(
        chart: TrendChart, monkeypatch: pytest.MonkeyPatch) -> None:
    chart.add_readings(_ecg_and_oximeter(range(HOURS_2)))
    chart.refresh(T0 + HOURS_2)
    sizes: list[int] = []

    def counted(pr_t: np.ndarray, *args: Any) -> np.ndarray:
        sizes.append(pr_t.size)
        return pulse_rate_where_no_heart_rate(pr_t, *args)

    monkeypatch.setattr(ui.trend_chart, "pulse_rate_where_no_heart_rate", counted)
    # A tick within the same minute: the history drawn before stays as it is.
    chart.add_readings(_ecg_and_oximeter(range(HOURS_2, HOURS_2 + 6)))
    chart.refresh(T0 + HOURS_2 + 6)
    assert sizes and max(sizes) <= 200, sizes  # the tail since the history's end, not the 7,206 of the session
    # What is drawn, history and tail together, is what the whole session's pulse rate gives.
    history, tail = chart.history_curves[Parameter.PR], chart.curves[Parameter.PR]
    t = np.concatenate([history.xData[:-1], tail.xData])  # the tail starts at the history's last point
    v = np.concatenate([history.yData[:-1], tail.yData])
    whole = pulse_rate_where_no_heart_rate(*chart.series[Parameter.PR].good.view(),
                                           *chart.series[Parameter.HR].good.view())
    np.testing.assert_array_equal(t, chart.series[Parameter.PR].good.view()[0])
    np.testing.assert_array_equal(v, whole)
    assert np.isnan(whole[:3590]).all() and np.isfinite(whole[3620:]).all()


def test_the_hidden_pulse_rate_of_any_stretch_is_that_stretch_of_the_whole_sessions() -> None:
    rng = np.random.default_rng(7)
    hr_t = np.cumsum(rng.uniform(0.5, 30.0, 400))
    hr_v = np.where(rng.random(400) < 0.2, np.nan, 70.0)
    pr_t = np.cumsum(rng.uniform(0.5, 20.0, 600))
    pr_v = np.full(600, 72.0)
    whole = pulse_rate_where_no_heart_rate(pr_t, pr_v, hr_t, hr_v)
    assert np.isnan(whole).any() and np.isfinite(whole).any()
    for start, end in ((0, 50), (120, 121), (300, 600), (599, 600)):
        part = pulse_rate_where_no_heart_rate(pr_t[start:end], pr_v[start:end], hr_t, hr_v)
        np.testing.assert_array_equal(part, whole[start:end])


def test_a_trend_buffer_keeps_its_value_range_as_samples_come_without_searching_them() -> None:
    buffer = TrendBuffer(capacity=4)
    assert buffer.value_range() is None
    buffer.extend([1, 2], [np.nan, np.nan])
    assert buffer.value_range() is None
    buffer.extend([3, 4, 5], [80.0, np.nan, 60.0])  # grows past its capacity
    buffer.extend([6], [95.0])
    assert buffer.value_range() == (60.0, 95.0)
    # The samples are not searched again at each question (the chart asks at every tick).
    buffer.v[: buffer.n] = 1000.0
    assert buffer.value_range() == (60.0, 95.0)
    buffer.clear()
    assert buffer.value_range() is None
    buffer.extend([7], [50.0])
    assert buffer.value_range() == (50.0, 50.0)


class _Painted(QObject):
    """The area of every paint of a widget, in pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.areas: list[int] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            region = event.region()  # type: ignore[attr-defined]
            self.areas.append(sum(r.width() * r.height() for r in region))
        return False


def _numerics(seconds: range) -> list[Reading]:
    return [r for i in seconds for r in (Reading(T0 + i, Parameter.HR, 70.0 + i % 7, "sim"),
                                         Reading(T0 + i, Parameter.SPO2, 95.0 + i % 4, "sim"))]


def test_a_tick_draws_again_only_the_newest_part_of_the_band_of_the_phase_under_way(
        chart: TrendChart, qtbot: Any) -> None:
    chart.set_phases([PhaseSpan(Phase.BASELINE, T0, T0 + 600), PhaseSpan(Phase.INFUSION, T0 + 600, None)])
    chart.add_readings(_numerics(range(HOURS_2)))
    chart.refresh(T0 + HOURS_2)
    QApplication.processEvents()
    viewport = chart.graphics.viewport()
    painted = _Painted()
    viewport.installEventFilter(painted)
    try:
        for k in range(5):  # ticks within the same minute: the view does not move
            chart.add_readings(_numerics(range(HOURS_2 + 6 * k, HOURS_2 + 6 * k + 6)))
            chart.refresh(T0 + HOURS_2 + 6 * k + 6)
            qtbot.waitUntil(lambda k=k: len(painted.areas) > k, timeout=10_000)
    finally:
        viewport.removeEventFilter(painted)
    whole = viewport.width() * viewport.height()
    # Two hours of the infusion's band under the trends, drawn again at every tick: most of the chart.
    assert max(painted.areas) < 0.1 * whole, (painted.areas, whole)
    [(_span, bands)] = [item for item in chart._span_items if item[0].end is None]
    assert all(band.getRegion() == (T0 + 600, T0 + HOURS_2 + 30) for band in bands)
    # What the screen holds, drawn in strips, is what the whole chart drawn at once is.
    QApplication.processEvents()
    shown = chart.screen().grabWindow(chart.winId()).toImage()
    drawn = chart.grab().toImage()
    assert shown.convertToFormat(drawn.format()) == drawn
