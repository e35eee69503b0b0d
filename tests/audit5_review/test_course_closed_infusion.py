"""A session closed while its infusion ran: the course's delivered ketamine against the session's own export."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.cli import main
from monitor.course import load_course_by_mrn
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.session import Phase
from monitor.store import Store
from tests.monitor.course.recording import MRN, Script, record

IV = load_protocol("ketamine-iv")
START = 1_722_000_000.0


def test_course_gives_the_dose_delivered_before_a_session_was_closed_mid_infusion(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    # 80 kg x 0.5 mg/kg = 40 mg over 40 min (60 mg/h); the session is closed 6 min into the infusion
    # (the patient asked to stop): 6 mg were given, and the course counts it as an infusion of the series.
    script = Script([
        (Phase.BASELINE, 20, "checklist", {"quick": "f6 e t:partner c m:none w80"}),
        (Phase.BASELINE, 30, "plan_dose", {"weight_kg": 80, "dose_mg_per_kg": 0.5, "duration_min": 40}),
    ])
    rec = record(db, IV, start=START, plan=SessionPlan(3, 40, 30), script=script, seed=4, stop_after_s=180 + 360)
    sid = rec.session.id
    out = tmp_path / "s.json"
    assert main(["export", sid, "--db", str(db), "--format", "json", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["session"]["status"] == "closed"
    exported = data["treatment"]["dose"]["delivered_mg"]
    assert exported is not None and abs(exported - 6.0) <= 0.1
    with Store(db) as store:
        course = load_course_by_mrn(store, MRN)
    [row] = course.rows
    assert row.number == 1 and course.series_done == 1
    assert row.delivered_mg == exported, f"course says {row.delivered_mg} mg delivered, the session {exported} mg"
