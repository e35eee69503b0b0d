"""Repaint several pyqtgraph plots many times: the guard for the PySide6 < 6.12 pin.

PySide6 6.12.0 crashed in pyqtgraph's AxisItem.paint under repeated repaints. If this test
passes on a newer PySide6, the pin in pyproject.toml can be lifted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

PLOTS = 4
REPAINTS = 300


def test_four_plots_survive_300_repaints_with_changing_data(qtbot: Any) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    layout = QVBoxLayout(host)
    plots = [pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()}) for _ in range(PLOTS)]
    curves = []
    for plot in plots:
        layout.addWidget(plot)
        curve = plot.plot(pen="g")
        curve.setClipToView(True)
        curve.setDownsampling(auto=True, method="peak")
        curves.append(curve)
    host.resize(800, 600)
    host.show()
    qtbot.waitExposed(host)
    t0 = 1_790_000_000.0
    rng = np.random.default_rng(1)
    images = 0
    for i in range(REPAINTS):
        t = t0 + np.arange(60 + i * 10, dtype=float)
        for curve in curves:
            curve.setData(t, 80 + rng.normal(0, 3, t.size))
        if i % 3 == 0:
            pixmap = plots[i % PLOTS].grab()  # paints the axes through the same path as the screen
            images += int(not pixmap.isNull())
        else:
            host.repaint()
        QApplication.processEvents()
    assert images == REPAINTS // 3
    # The axes still hold the data range after all that painting.
    left, right = plots[0].getViewBox().viewRange()[0]
    assert left <= t0 + 1 and right >= t0 + 60 + (REPAINTS - 1) * 10 - 2
