"""The review window's treatment line: the exports' dose figures with the pauses, rate changes and interventions."""

from __future__ import annotations

import io
import json
from pathlib import Path

from monitor.exports import json_export
from monitor.exports.data import load
from monitor.exports.treatment import treatment_line
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.session import Phase
from monitor.store import Store
from tests.monitor.course.recording import at_60_mg_per_h, record

START = 1_723_000_000.0


def test_the_line_counts_a_pause_and_a_rate_change_and_gives_the_exports_delivered_dose(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    # 40 mg planned at 60 mg/h; paused from 10 to 14 min, 45 mg/h from 20 min, stopped at 30 min:
    # 10 min at 60 + 6 min at 60 + 10 min at 45 mg/h = 10 + 6 + 7.5 = 23.5 mg.
    script = at_60_mg_per_h(
        (Phase.INFUSION, 600, "pause_infusion", {"reason": "BP 182/104"}),
        (Phase.INFUSION, 840, "resume_infusion", {}),
        (Phase.INFUSION, 1200, "rate_change", {"rate_mg_per_h": 45, "reason": "dissociation"}),
        (Phase.INFUSION, 1800, "stop_infusion", {"reason": "enough"}),
        (Phase.INFUSION, 1810, "start_recovery", {"override_reason": "infusion stopped"}),
        (Phase.RECOVERY, 60, "intervention", {"kind": "oxygen", "dose": 2}),
        (Phase.RECOVERY, 70, "intervention", {"kind": "antiemetic", "drug": "ondansetron", "dose": 4,
                                              "route": "IV"}),
    )
    rec = record(db, load_protocol("ketamine-iv"), start=START, plan=SessionPlan(3, 40, 10), script=script,
                 seed=6, stop_after_s=3000)
    with Store(db, readonly=True) as store:
        session = load(store, rec.session.id)
        stream = io.StringIO()
        json_export.write(session, stream)
        line = treatment_line(session)
    dose = json.loads(stream.getvalue())["treatment"]["dose"]
    assert dose["delivered_mg"] == 23.5
    assert line == ("Treatment: ketamine IV · delivered 23.5 mg (0.294 mg/kg) in 30 min · "
                    "planned 40 mg (0.5 mg/kg × 80 kg) at 60 mg/h · 1 rate change · 1 pause (4 min) · "
                    "2 interventions")
