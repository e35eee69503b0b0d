"""``course MRN --server URL``: a patient's course from every chair, audited where it was asked for."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.cli import main
from monitor.store import Store
from tests.conftest import Clinic
from tests.monitor.replication.test_server_store import _record_for, _replicate


def test_the_course_from_the_server_spans_every_chair(clinic: Clinic, tmp_path: Path) -> None:
    chair_a, chair_b = tmp_path / "a.db", tmp_path / "b.db"
    first = _record_for(chair_a, "MRN-9", 1_790_000_000.0, 21)
    second = _record_for(chair_b, "MRN-9", 1_790_600_000.0, 22)
    _record_for(chair_b, "MRN-10", 1_790_700_000.0, 23)
    _replicate(chair_a, clinic.role("chair"))
    _replicate(chair_b, clinic.role("chair"))
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
