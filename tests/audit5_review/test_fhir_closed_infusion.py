"""The FHIR export of a session closed while its infusion ran (the patient asked to stop and left)."""

from __future__ import annotations

import json
from pathlib import Path

import hl7
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.medicationadministration import MedicationAdministration

from monitor.cli import main
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.session import Phase
from tests.monitor.course.recording import Script, record

IV = load_protocol("ketamine-iv")
START = 1_722_000_000.0


def test_medication_administration_of_a_closed_session_is_not_left_in_progress(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    script = Script([
        (Phase.BASELINE, 20, "checklist", {"quick": "f6 e t:partner c m:none w80"}),
        (Phase.BASELINE, 30, "plan_dose", {"weight_kg": 80, "dose_mg_per_kg": 0.5, "duration_min": 40}),
    ])
    rec = record(db, IV, start=START, plan=SessionPlan(3, 40, 30), script=script, seed=4, stop_after_s=180 + 360)
    out = tmp_path / "s.fhir.json"
    assert main(["export", rec.session.id, "--db", str(db), "--format", "fhir", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    Bundle.model_validate(data)  # valid FHIR R4B as fhir.resources reads it
    resources = [entry["resource"] for entry in data["entry"]]
    [encounter] = [r for r in resources if r["resourceType"] == "Encounter"]
    [given] = [r for r in resources if r["resourceType"] == "MedicationAdministration"]
    MedicationAdministration.model_validate(given)
    assert encounter["status"] == "finished" and encounter["period"].get("end")
    # The session is over and so is the drug's administration: FHIR R4 says "stopped" (halted before all of it
    # was given), with the time it ended; "in-progress" tells the EHR ketamine is still running.
    end = given["effectivePeriod"].get("end")
    assert given["status"] != "in-progress", (
        f"ketamine still 'in-progress' (effectivePeriod end {end}) in an Encounter finished at "
        f"{encounter['period']['end']}")
    assert end == encounter["period"]["end"]
    # HL7: the delivered dose is observed when delivery ended (the close), as for a stopped infusion.
    batch = tmp_path / "s.hl7"
    assert main(["export", rec.session.id, "--db", str(db), "--format", "hl7", "--out", str(batch)]) == 0
    parsed = hl7.parse_file(batch.read_bytes().decode("utf-8"))
    obx = [seg for b in parsed for message in b for seg in message if str(seg[0]) == "OBX"]
    [delivered] = [seg for seg in obx if str(seg[3][0][0]) == "dose-delivered-mg"]
    assert str(delivered[14]) == "20240726132900.000+0000", str(delivered[14])
