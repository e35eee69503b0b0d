"""The numeric tile of a parameter whose high-priority alarm was carried over a restart names the limit the
value breached, on the side it breached it."""

from __future__ import annotations

import math
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.accounts import Principal
from monitor.alarms.engine import AlarmEngine
from monitor.app.device import DeviceSpec
from monitor.app.sessions import SessionSpec, start_session
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import abandon
from tests.monitor.alarms.test_resume_keeps_alarms import PLAN, T0
from ui.live_window import tile_alarms


def test_a_carried_desaturation_reads_below_its_limit_on_the_spo2_tile(db_path: Path) -> None:
    store = Store(db_path)
    try:
        source = SimulatedSource("desaturation", 1, speed=math.inf, start_time=T0,
                                 plan=parse_plan(PLAN).phase_times())
        rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=parse_plan(PLAN),
                                   autopilot=True, alarms=AlarmEngine(), nurse="RN")
        while not any(a.condition == "spo2_low_severe" for a in rec.alarms.snapshot(rec.session.now).active):
            rec.step()
        before = tile_alarms(rec.alarms.snapshot(rec.session.now))["spo2"]
        rec.flush()
        session_id, _last = abandon(rec, store)
        spec = SessionSpec(device=DeviceSpec(driver="simulated", scenario="desaturation", speed=math.inf),
                           resume=session_id)
        rec = start_session(spec, store, Principal("RN", "nurse"), lambda _w: None)  # what --resume does
        rec.step()
        snapshot = rec.alarms.snapshot(rec.session.now)
        carried = [a for a in snapshot.active if a.carried and a.condition == "spo2_low_severe"]
        after = tile_alarms(snapshot)["spo2"]
        rec.run(until=lambda r: True)
    finally:
        store.close()
    assert carried, "the unanswered desaturation is carried over the restart"
    print("before:", before, "after:", after, "bar:", carried[0].text)
    assert "<" in before[1]
    assert "<" in after[1], f"SpO2 tile after the restart says {after[1]!r} for a desaturation (was {before[1]!r})"
