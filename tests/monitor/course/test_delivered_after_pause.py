"""The delivered ketamine of an infusion stopped while the pump was paused: course against the session's exports."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.cli import main
from monitor.course import load_course_by_mrn
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.session import Phase
from monitor.store import Store
from tests.monitor.course.recording import MRN, at_60_mg_per_h, record

IV = load_protocol("ketamine-iv")
START = 1_722_000_000.0


def test_course_delivered_mg_excludes_pause_that_lasted_until_the_stop(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    # 80 kg x 0.5 mg/kg = 40 mg over 40 min: 60 mg/h. Paused at 10 min (e.g. hypertension), never resumed;
    # the infusion ends at 20 min. Delivered: 10 min at 60 mg/h = 10 mg.
    script = at_60_mg_per_h(
        (Phase.INFUSION, 600, "pause_infusion", {"reason": "BP 182/104"}),
        (Phase.INFUSION, 1200, "stop_infusion", {"reason": "BP stays high"}),
        (Phase.INFUSION, 1210, "start_recovery", {"override_reason": "infusion stopped for BP"}),
    )
    rec = record(db, IV, start=START, plan=SessionPlan(3, 20, 10), script=script, seed=4,
                 stop_after_s=3600)
    sid = rec.session.id
    out = tmp_path / "s.json"
    assert main(["export", sid, "--db", str(db), "--format", "json", "--out", str(out)]) == 0
    exported = json.loads(out.read_text())["treatment"]["dose"]["delivered_mg"]
    with Store(db) as store:
        course = load_course_by_mrn(store, MRN)
    row = course.rows[0]
    assert exported == 10.0
    assert row.delivered_mg == exported, f"course says {row.delivered_mg} mg delivered, the session {exported} mg"
