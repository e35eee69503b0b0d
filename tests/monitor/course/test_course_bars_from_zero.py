"""The course report's bar charts start at zero.

Their value axis started near the smallest bar (reportlab's own choice): rises of 67 and 17 mmHg systolic, 31 and
13 diastolic were drawn on an axis from about 15, so the second session's systolic bar was a sliver and its diastolic
bar was not drawn at all, which in this chart means "no value".
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing

from monitor import course_export
from monitor.course import load_course_by_mrn
from monitor.store import Store
from tests.monitor.course.recording import MRN


def _bar_charts(flowables: list[object]) -> list[VerticalBarChart]:
    drawings: list[Drawing] = []
    for flowable in flowables:
        if isinstance(flowable, Drawing):
            drawings.append(flowable)
        for cell in getattr(flowable, "_cellvalues", ()):  # charts side by side are laid out in a table
            drawings += [item for item in cell if isinstance(item, Drawing)]
    return [item for d in drawings for item in d.contents if isinstance(item, VerticalBarChart)]


def _rises(course_db: Path, rises: list[tuple[float | None, float | None]]) -> list[VerticalBarChart]:
    with Store(course_db) as store:
        course = load_course_by_mrn(store, MRN)
    rows = tuple(replace(row, rise_sys_mmhg=sys, rise_dia_mmhg=dia)
                 for row, (sys, dia) in zip(course.rows, rises, strict=False))
    charts = _bar_charts(course_export.story(replace(course, rows=rows), user="RN"))
    assert len(charts) == 2  # the blood-pressure rise and the dissociation
    for chart in charts:
        chart.draw()  # lays the axes out
    return charts


def test_a_small_rise_has_its_bar_on_an_axis_from_zero(course_db: Path) -> None:
    rise, dissociation = _rises(course_db, [(67, 31), (17, 13), (20, 15), (25, 18)])
    for chart in (rise, dissociation):
        assert chart.valueAxis.scale(0) >= chart.y - 0.01, "zero lies below the chart's bottom edge"
    assert rise.valueAxis.scale(13) > rise.y + 0.01  # the smallest bar has a height


def test_a_fall_in_pressure_still_has_its_bar_below_zero(course_db: Path) -> None:
    rise, _ = _rises(course_db, [(-12, -6), (17, 13), (20, 15), (25, 18)])
    assert rise.valueAxis.scale(-12) >= rise.y - 0.01
    assert rise.valueAxis.scale(0) > rise.y
