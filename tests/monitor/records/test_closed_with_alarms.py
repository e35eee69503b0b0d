"""A session closed while an alarm's condition still held: its alarm log."""

from __future__ import annotations

import math
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.monitor.records.lifecycle import T0, advance, export_json, export_text, run, to_infusion


def test_an_alarm_still_in_breach_at_the_close_does_not_read_as_a_condition_that_ended(db_path: Path) -> None:
    with Store(db_path) as store:
        source = SimulatedSource(scenario="bradycardia", seed=3, speed=math.inf, start_time=T0)
        rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(3, 40, 30),
                                   nurse="RN", alarms=AlarmEngine())
        rec.step()
        run(rec, "identify_patient", mrn="MRN-CLOSED")
        to_infusion(rec)
        advance(rec, 16 * 60 + 20)  # 1 min into the 2-min bradycardia
        rec.stop()
        rec.close()
        sid = rec.session.id
    data = export_json(db_path, sid)
    [hr] = [r for r in data["readings"] if r["parameter"] == "hr"][-1:]
    assert hr["value"] < 50  # the heart rate was still below the limit when the session was closed
    [alarm] = [a for a in data["alarms"] if a["condition"] == "hr_low"]
    assert alarm["ended_at"] == data["session"]["ended_at"]
    assert "session" in alarm["message"], alarm["message"]
    assert "session" in export_text(db_path, sid, "csv-alarms").splitlines()[-1]
