"""The monitor was killed and started again 40 s later: the trend shows a hole where nothing was measured, not a
line that looks like 40 s of steady values."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from drivers.core.readings import Parameter
from drivers.simulated.driver import SimulatedSource
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import abandon

T0 = 1_790_000_000.0
GAP_S = 40.0


def _longest_drawn_segment(*curves: Any) -> tuple[float, float]:
    """The longest stretch of time one drawn line segment spans (both ends finite), and where it starts."""
    xs, ys = [], []
    for curve in curves:
        x, y = curve.getData()
        if x is not None and len(x):
            xs.append(np.asarray(x, dtype=float))
            ys.append(np.asarray(y, dtype=float))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    both = np.isfinite(y[:-1]) & np.isfinite(y[1:])
    spans = np.where(both, np.diff(x), 0.0)
    i = int(np.argmax(spans))
    return float(spans[i]), float(x[i])


def test_the_time_the_program_was_not_running_is_not_drawn_as_values(qtbot: Any, db_path: Path) -> None:
    from ui.bridge import RecorderBridge
    from ui.live_window import LiveWindow

    store = Store(db_path)
    recorder = Recorder.new_session(store, SimulatedSource(seed=4, speed=math.inf, start_time=T0),
                                    driver="simulated", port=None, plan=SessionPlan(1, 40, 30), nurse="RN")
    while recorder.session.now < T0 + 120:
        recorder.step()
    recorder.flush()
    session_id, last = abandon(recorder, store)
    store.close()

    store = Store(db_path)
    source = SimulatedSource(seed=4, speed=math.inf, start_time=last + GAP_S)
    resumed = Recorder.resume_session(store, source, session_id, nurse="RN")
    for _ in range(30):
        resumed.step()
    resumed.flush()
    window = LiveWindow(RecorderBridge(resumed), sound=False)
    qtbot.addWidget(window)
    try:
        chart = window.chart
        chart.refresh()
        span, at = _longest_drawn_segment(chart.curves[Parameter.HR], chart.history_curves[Parameter.HR])
    finally:
        window.force_close()
        resumed.run(until=lambda r: True)
        store.close()
    assert span < 10.0, (f"one line segment of the heart-rate trend spans {span:.0f} s from "
                         f"{at - T0:.0f} s into the session: the {GAP_S:.0f} s in which the monitor was not running "
                         "is drawn as if values had been measured")
