"""A session whose recording died during the infusion and was then closed (not resumed): the dose delivered."""

from __future__ import annotations

import json
import math
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.app.sessions import close_unfinished
from monitor.cli import main
from monitor.course import load_course_by_mrn
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.session import Phase
from monitor.store import Store
from tests.conftest import abandon
from tests.monitor.course.recording import MRN, NURSE, at_60_mg_per_h

IV = load_protocol("ketamine-iv")
START = 1_722_000_000.0


def test_dose_of_a_crashed_and_closed_session_runs_to_the_end_of_the_record(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    plan = SessionPlan(3, 40, 30)
    store = Store(db)
    try:
        patient = store.create_patient(MRN, "Tom Okafor", "1979-11-02")
        source = SimulatedSource(scenario="normal", seed=9, speed=math.inf, start_time=START, plan=plan.phase_times())
        entries = at_60_mg_per_h()
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=plan, patient_id=patient,
                                        nurse=NURSE, autopilot=True, protocol=IV, nibp_schedule=IV.cuff,
                                        alarms=AlarmEngine())
        # 60 mg/h; the recording dies 8.5 min into the infusion (readings stored until then), and is closed.
        s = recorder.session
        while not (s.phase is Phase.INFUSION and s.now - s.phase_started_at[Phase.INFUSION] >= 510):
            entries(recorder)
            recorder.step()
        recorder.flush()
        session_id, last = abandon(recorder, store)
        started = s.phase_started_at[Phase.INFUSION]
        close_unfinished(store, session_id, "dr.k")
    finally:
        store.close()
    expected = round(60.0 * (last - started) / 3600.0, 1)
    assert expected == 8.5
    out = tmp_path / "s.json"
    assert main(["export", session_id, "--db", str(db), "--format", "json", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["session"]["status"] == "closed"
    delivered = data["treatment"]["dose"]["delivered_mg"]
    with Store(db) as reader:
        course_delivered = load_course_by_mrn(reader, MRN).rows[0].delivered_mg
    # The record runs to its last reading (the session's end); what the pump did after that nobody knows.
    assert (delivered, course_delivered) == (expected, expected), (
        f"session export {delivered} mg, course {course_delivered} mg; {expected} mg ran until the record ends")
