"""``course MRN --server URL``: a patient's course from every chair, audited where it was asked for."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.cli import main
from monitor.store import Store
from tests.conftest import Clinic
from tests.monitor.replication.shipping import patient_at_two_chairs


def test_the_course_from_the_server_spans_every_chair(clinic: Clinic, tmp_path: Path) -> None:
    chair_a, _, first, second = patient_at_two_chairs(tmp_path, clinic.role("chair"), "MRN-9", (21, 22),
                                                      ("MRN-10", 23))
    office = tmp_path / "office.db"
    everywhere, here = tmp_path / "server.json", tmp_path / "chair_a.json"
    assert main(["course", "MRN-9", "--server", clinic.role("reader"), "--db", str(office), "--out",
                 str(everywhere)]) == 0
    assert main(["course", "MRN-9", "--db", str(chair_a), "--out", str(here)]) == 0
    server_doc, chair_doc = json.loads(everywhere.read_text()), json.loads(here.read_text())
    assert [s["session_id"] for s in server_doc["sessions"]] == [first, second]
    assert server_doc["patient"]["mrn"] == "MRN-9"
    # The first session's figures are the chair's own.
    assert server_doc["sessions"][0] == chair_doc["sessions"][0]
    with Store(office, readonly=True) as audit:
        [entry] = [row for row in audit.audit_log() if row["action"] == "course_export"]
    assert clinic.database in json.loads(entry["detail"])["server"]
