"""A session killed and resumed several times, then closed: its alarm log."""

from __future__ import annotations

import math
import time
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.accounts import Principal
from monitor.alarms.engine import AlarmEngine
from monitor.app.device import DeviceSpec
from monitor.app.sessions import SessionSpec, start_session
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import abandon
from tests.monitor.records.lifecycle import advance, export_json, run, to_infusion


def _abandoned_in_bradycardia(store: Store, mrn: str | None = None) -> str:
    """A session 15 min into its infusion with the bradycardia's high alarm on (nobody acknowledged it), then
    abandoned as a crash leaves it; its id."""
    source = SimulatedSource(scenario="bradycardia", seed=3, speed=math.inf, start_time=time.time() - 7200)
    rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(3, 40, 30),
                               nurse="RN", alarms=AlarmEngine())
    rec.step()
    if mrn is not None:
        run(rec, "identify_patient", mrn=mrn)
    to_infusion(rec)
    advance(rec, 15 * 60 + 30)
    rec.flush()
    sid, _ = abandon(rec, store)
    return str(sid)


def test_an_alarm_carried_over_three_resumes_says_once_that_the_recording_was_interrupted(db_path: Path) -> None:
    with Store(db_path) as store:
        sid = _abandoned_in_bradycardia(store, "MRN-RESUMED")
        for i in range(3):
            spec = SessionSpec(device=DeviceSpec(driver="simulated", speed=math.inf), resume=sid)
            resumed = start_session(spec, store, Principal("RN", "nurse"), lambda _: None)
            advance(resumed, 5)
            if i < 2:
                resumed.flush()
                abandon(resumed, store)
            else:
                resumed.stop()
                resumed.close()
    [hr_low] = [a for a in export_json(db_path, sid)["alarms"] if a["condition"] == "hr_low"]
    assert hr_low["message"].count("(before the recording was interrupted)") == 1, hr_low["message"]


def test_a_crashed_session_closed_by_close_has_no_alarm_still_active(db_path: Path) -> None:
    from monitor.app.sessions import close_unfinished

    with Store(db_path) as store:
        sid = _abandoned_in_bradycardia(store)
        close_unfinished(store, sid, "RN")
    data = export_json(db_path, sid)
    assert data["session"]["status"] == "closed"
    states = [(a["condition"], a["state"], a["ended_at"]) for a in data["alarms"]]
    assert all(state == "ended" and ended is not None for _, state, ended in states), states
