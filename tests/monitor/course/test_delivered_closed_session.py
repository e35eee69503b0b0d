"""A session closed while its infusion ran (the patient asked to stop and left): the course's delivered ketamine
against the session's own export, and the drug's administration in the FHIR and HL7 exports."""

from __future__ import annotations

import json
from pathlib import Path

import hl7
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.medicationadministration import MedicationAdministration

from monitor.cli import main
from monitor.course import load_course_by_mrn
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.store import Store
from tests.monitor.course.recording import MRN, at_60_mg_per_h, record

IV = load_protocol("ketamine-iv")
START = 1_722_000_000.0


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """80 kg x 0.5 mg/kg = 40 mg over 40 min (60 mg/h); the session is closed 6 min into the infusion: 6 mg were
    given, and the course counts it as an infusion of the series. The database and the session's id."""
    db = tmp_path_factory.mktemp("closed") / "m.db"
    rec = record(db, IV, start=START, plan=SessionPlan(3, 40, 30), script=at_60_mg_per_h(), seed=4,
                 stop_after_s=180 + 360)
    return db, rec.session.id


def _export(closed: tuple[Path, str], fmt: str, out: Path) -> Path:
    db, session_id = closed
    assert main(["export", session_id, "--db", str(db), "--format", fmt, "--out", str(out)]) == 0
    return out


def test_course_gives_the_dose_delivered_before_a_session_was_closed_mid_infusion(
    closed: tuple[Path, str], tmp_path: Path
) -> None:
    data = json.loads(_export(closed, "json", tmp_path / "s.json").read_text())
    assert data["session"]["status"] == "closed"
    exported = data["treatment"]["dose"]["delivered_mg"]
    assert exported is not None and abs(exported - 6.0) <= 0.1
    with Store(closed[0]) as store:
        course = load_course_by_mrn(store, MRN)
    [row] = course.rows
    assert row.number == 1 and course.series_done == 1
    assert row.delivered_mg == exported, f"course says {row.delivered_mg} mg delivered, the session {exported} mg"


def test_medication_administration_of_a_closed_session_is_not_left_in_progress(
    closed: tuple[Path, str], tmp_path: Path
) -> None:
    """FHIR (validated by fhir.resources) and HL7 (parsed by python-hl7) of that session."""
    data = json.loads(_export(closed, "fhir", tmp_path / "s.fhir.json").read_text())
    Bundle.model_validate(data)  # valid FHIR R4B as fhir.resources reads it
    resources = [entry["resource"] for entry in data["entry"]]
    [encounter] = [r for r in resources if r["resourceType"] == "Encounter"]
    [given] = [r for r in resources if r["resourceType"] == "MedicationAdministration"]
    MedicationAdministration.model_validate(given)
    assert encounter["status"] == "finished" and encounter["period"].get("end")
    # The session is over and so is the drug's administration: FHIR R4 says "stopped" (halted before all of it
    # was given), with the time it ended; "in-progress" tells the EHR ketamine is still running.
    end = given["effectivePeriod"].get("end")
    assert given["status"] == "stopped", (
        f"ketamine still 'in-progress' (effectivePeriod end {end}) in an Encounter finished at "
        f"{encounter['period']['end']}")
    assert end == encounter["period"]["end"]
    # HL7: the delivered dose is observed when delivery ended (the close), as for a stopped infusion.
    batch = _export(closed, "hl7", tmp_path / "s.hl7")
    parsed = hl7.parse_file(batch.read_bytes().decode("utf-8"))
    obx = [seg for b in parsed for message in b for seg in message if str(seg[0]) == "OBX"]
    [delivered] = [seg for seg in obx if str(seg[3][0][0]) == "dose-delivered-mg"]
    assert str(delivered[14]) == "20240726132900.000+0000", str(delivered[14])
