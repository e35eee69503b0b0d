"""Respiratory rate and EtCO2 get a plot of their own, only in sessions whose device sends them."""

from __future__ import annotations

import numpy as np

from drivers.core.readings import Parameter, Reading
from monitor.session import EventKind, Phase, SessionEvent
from ui.trend_chart import TrendChart, phase_spans

T0 = 1_790_000_000.0


def _numerics(seconds: int, ventilation: bool) -> list[Reading]:
    out = []
    for i in range(seconds):
        out += [Reading(T0 + i, Parameter.HR, 72.0, "sim"), Reading(T0 + i, Parameter.SPO2, 97.0, "sim")]
        if ventilation:
            out += [Reading(T0 + i, Parameter.RR, 14.0, "sim"), Reading(T0 + i, Parameter.ETCO2, 38.0, "sim")]
    return out


def test_no_ventilation_plot_without_ventilation_data(chart: TrendChart) -> None:
    chart.add_readings(_numerics(30, ventilation=False))
    chart.refresh(T0 + 30)
    assert "vent" not in chart.plots
    assert set(chart.plots) == {"hr", "spo2", "nibp"}


def test_ventilation_plot_appears_with_the_first_value(chart: TrendChart) -> None:
    started = SessionEvent(T0, EventKind.BASELINE_STARTED, Phase.BASELINE)
    chart.set_phases(phase_spans([started]))
    chart.add_readings(_numerics(30, ventilation=False))
    chart.refresh(T0 + 30)
    chart.add_readings([Reading(T0 + 31, Parameter.RR, 12.0, "sim"), Reading(T0 + 31, Parameter.ETCO2, 41.0, "sim")])
    chart.add_readings(_numerics(10, ventilation=True))
    chart.refresh(T0 + 40)
    assert "vent" in chart.plots
    assert np.nanmax(chart.curve_data(Parameter.ETCO2)[1]) == 41.0
    assert chart.curve_data(Parameter.RR)[1].size == 11
    # A later change of phases shades the new plot too (one band per plot, removed together).
    chart.set_phases(phase_spans([started, SessionEvent(T0 + 35, EventKind.INFUSION_STARTED, Phase.INFUSION)]))
    chart.refresh(T0 + 41)
