"""A session resumed from a real device after the computer's clock was set back.

The session's own clock ignored the step while it ran (its readings follow one another); then the program
died and was started again with ``--resume``. The readings of the resumed recording must still come after the
stored ones, and the session's time must go on, as the simulated monitor's already do.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from drivers import registry
from drivers.base import OpenOptions
from drivers.core import clock as clock_module
from drivers.core.clock import AnchoredClock
from drivers.masimo.codec import encode_line
from drivers.simulated.driver import SimulatedSource
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import abandon
from tests.drivers.ptys import PtyEnd

SET_BACK_S = 3600.0


def test_readings_after_a_resume_follow_the_stored_ones_when_the_clock_was_set_back(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(db_path)
    # A minute of a session that ends now.
    source = SimulatedSource(speed=math.inf, start_time=time.time() - 60)
    first = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan())
    for _ in range(60):
        first.step()
    first.flush()
    session_id, last = abandon(first, store)
    elapsed_before = first.session.now - first.session.started_at

    # The clock has been set back an hour meanwhile; the program starts again and resumes from a Masimo.
    monkeypatch.setattr(clock_module, "_process_clock", AnchoredClock(wall=lambda: time.time() - SET_BACK_S))
    device = PtyEnd()
    masimo = registry.get("masimo-ascii")().open(OpenOptions(port=device.path))
    resumed = Recorder.resume_session(store, masimo, session_id, nurse="RN")
    resumed.start()
    try:
        for _ in range(6):
            device.write(encode_line(time.time(), 91.0, 70.0))
            time.sleep(1.0)
    finally:
        resumed.stop()
        device.close()
        store.close()
    with Store(db_path, readonly=True) as check:
        readings = [r for r in check.readings(session_id) if r.parameter.value == "spo2"]
        events = [(e.kind.value, dict(e.detail)) for e in check.events(session_id)]
    new = [r for r in readings if r.value == 91.0]  # the Masimo's (the simulated patient stays at 95-99 %)
    assert len(new) >= 4, (len(new), events)
    behind = [round(r.t - last) for r in new if r.t < last]
    assert not behind, f"resumed readings stored {behind} s before the last stored reading"
    # Six seconds of monitoring after the resume count as session time.
    assert resumed.session.now - resumed.session.started_at >= elapsed_before + 4, (
        resumed.session.now - resumed.session.started_at, elapsed_before)
