"""Resume tells the truth: the real gap is recorded and the window shows the whole session from the store."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from drivers.core.readings import Parameter
from drivers.simulated.driver import SimulatedSource
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import EventKind
from monitor.store import Store
from tests.conftest import abandon

T0 = 1_790_000_000.0
GAP_S = 16.0


def _crashed_session(db_path: Path) -> tuple[str, float]:
    """A session recorded for two minutes whose process then 'died' (lock released, nothing closed)."""
    store = Store(db_path)
    try:
        recorder = Recorder.new_session(store, SimulatedSource(seed=4, speed=math.inf, start_time=T0),
                                        driver="simulated", port=None, plan=SessionPlan(1, 40, 30), nurse="RN")
        while recorder.session.now < T0 + 120:
            recorder.step()
        recorder.flush()
        return abandon(recorder, store)
    finally:
        store.close()


def test_the_gap_is_real_and_the_chart_shows_the_stored_session(qtbot: Any, db_path: Path) -> None:
    from ui.bridge import RecorderBridge
    from ui.live_window import LiveWindow

    session_id, last = _crashed_session(db_path)
    store = Store(db_path)
    assert store.status_of(store.session_row(session_id)) == "unfinished"
    source = SimulatedSource(seed=4, speed=math.inf, start_time=last + GAP_S)
    recorder = Recorder.resume_session(store, source, session_id, nurse="RN")
    [resumed] = [e for e in recorder.session.take_events() if e.kind is EventKind.SESSION_RESUMED]
    recorder.session.record(resumed.kind, resumed.t, resumed.user, **resumed.detail)  # put back for the store
    assert abs(resumed.detail["gap_s"] - GAP_S) < 1.5
    bridge = RecorderBridge(recorder)
    window = LiveWindow(bridge, sound=False)  # a resumed session's window draws what is stored
    qtbot.addWidget(window)
    hr = window.chart.series[Parameter.HR].good
    assert hr.n >= 100 and hr.t[0] < T0 + 5  # from the start of the session, before the crash
    assert window.chart.session_start == T0
    window.force_close()
    recorder.run(until=lambda r: True)
    store.close()
