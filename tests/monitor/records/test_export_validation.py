"""Exports checked by independent validators: hl7apy at STRICT v2.6 over the HL7 export, and the FHIR
Observations against the core vital-signs ``bp`` profile's slicing (written from the profile's
StructureDefinition: http://hl7.org/fhir/StructureDefinition/bp, FHIR R4)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from drivers.core.readings import Parameter, Reading
from monitor.cli import main
from monitor.exports import fhir_export
from monitor.exports.data import ExportOptions, load
from monitor.store import Store
from tests.monitor.records.sessions import MRN, RecordedSession, record_session

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def export(recorded: RecordedSession, out: Path, fmt: str, *extra: str) -> str:
    assert main(["export", recorded.session_id, "--db", str(recorded.path), "--format", fmt, "--out", str(out),
                 *extra]) == 0
    return out.read_bytes().decode("utf-8")  # segments end with CR: no newline translation


def split_messages(batch: str) -> list[str]:
    """The ORU^R01 messages of an FHS/BHS batch file, each ending with CR."""
    messages: list[str] = []
    for segment in batch.split("\r"):
        if segment.startswith("MSH"):
            messages.append("")
        if messages and segment[:3] not in ("BTS", "FTS", ""):
            messages[-1] += segment + "\r"
    return messages


def strict(message: str) -> None:
    """hl7apy at STRICT, v2.6 (from MSH-12): every required field, datatype and cardinality checked."""
    parsed = parse_message(message, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert parsed.validate()


def sample(messages: list[str]) -> list[str]:
    """Every cuff message and the first 40 of the others (each STRICT validation takes ~20 ms)."""
    cuff = [m for m in messages if "|8480-6^" in m]
    other = [m for m in messages if "|8480-6^" not in m]
    assert cuff and other
    return cuff + other[:40]


@pytest.mark.parametrize("extra", [(), ("--deidentify",)], ids=["identified", "deidentified"])
def test_hl7_export_is_valid_v26_strict(recorded: RecordedSession, tmp_path: Path, extra: tuple[str, ...]) -> None:
    messages = split_messages(export(recorded, tmp_path / "s.hl7", "hl7", *extra))
    for message in sample(messages):
        strict(message)
        pid = next(s for s in message.split("\r") if s.startswith("PID"))
        assert pid.split("|")[5], "PID-5 is required in v2.6"
        if extra:
            assert MRN not in message
            assert pid.split("|")[5] == "^^^^^^S"  # a pseudonymous name: the session key stands in


def test_strict_validation_can_fail() -> None:
    """The check is real: v2.6 without PID-5 is refused."""
    message = "\r".join(
        [
            "MSH|^~\\&|A|B|C|D|20240610061320||ORU^R01^ORU_R01|X1|P|2.6",
            "PID|||123^^^^MR",
            "OBR|1|||182777000^monitoring of patient^SCT",
            "OBX|1|NM|8867-4^Heart rate^LN||72|/min|||||R",
        ]
    ) + "\r"
    with pytest.raises(Exception, match="PID_5"):  # hl7apy's ValidationError
        strict(message)


def test_identifier_system_is_configurable(
    recorded: RecordedSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fhir = json.loads(export(recorded, tmp_path / "a.json", "fhir"))
    (patient,) = [e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patient["identifier"][0]["system"] == "urn:infusion-monitor:mrn"  # the documented default
    monkeypatch.setenv("INFUSION_MONITOR_PATIENT_ID_SYSTEM", "urn:oid:2.16.840.1.113883.19.5")
    fhir = json.loads(export(recorded, tmp_path / "b.json", "fhir"))
    (patient,) = [e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patient["identifier"][0] == {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
        "system": "urn:oid:2.16.840.1.113883.19.5",
        "value": MRN,
    }
    message = split_messages(export(recorded, tmp_path / "b.hl7", "hl7"))[0]
    pid = next(s for s in message.split("\r") if s.startswith("PID"))
    assert pid.split("|")[3] == f"{MRN}^^^&2.16.840.1.113883.19.5&ISO^MR"
    strict(message)


# -- the core bp profile -------------------------------------------------------------------------


def _has_coding(concept: dict[str, Any], system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code for c in concept.get("coding", []))


def bp_profile_problems(obs: dict[str, Any]) -> list[str]:
    """What an Observation breaks of the R4 core ``bp`` profile (and the vitalsigns profile it derives from).

    Component slicing: discriminators value code.coding.code and code.coding.system, rules open,
    component 2..*; slice SystolicBP 1..1 (a coding LOINC 8480-6), DiastolicBP 1..1 (LOINC 8462-4);
    each slice's valueQuantity, when present, has value, unit, system UCUM and code mm[Hg]; a
    component without a value has a dataAbsentReason (vs-3). Observation: status, category
    VSCat (observation-category vital-signs), code BPCode (LOINC 85354-9), subject, effective[x].
    """
    problems = []
    if not obs.get("status"):
        problems.append("status missing")
    if not any(_has_coding(c, CATEGORY, "vital-signs") for c in obs.get("category", [])):
        problems.append("category VSCat missing")
    if not _has_coding(obs.get("code", {}), LOINC, "85354-9"):
        problems.append("code BPCode (85354-9) missing")
    if not obs.get("subject", {}).get("reference"):
        problems.append("subject missing")
    if not (obs.get("effectiveDateTime") or obs.get("effectivePeriod")):
        problems.append("effective[x] missing")
    components = obs.get("component", [])
    if len(components) < 2:
        problems.append(f"{len(components)} components, the profile wants 2..*")
    for slice_name, code in (("SystolicBP", "8480-6"), ("DiastolicBP", "8462-4")):
        members = [c for c in components if _has_coding(c.get("code", {}), LOINC, code)]
        if len(members) != 1:
            problems.append(f"slice {slice_name}: {len(members)} components, the profile wants 1..1")
    for component in components:
        quantity = component.get("valueQuantity")
        if quantity is None:
            if not component.get("dataAbsentReason"):
                problems.append("component without value or dataAbsentReason (vs-3)")
            continue
        if _has_coding(component["code"], LOINC, "8480-6") or _has_coding(component["code"], LOINC, "8462-4"):
            for key, wanted in (("system", UCUM), ("code", "mm[Hg]")):
                if quantity.get(key) != wanted:
                    problems.append(f"component valueQuantity.{key} is {quantity.get(key)!r}, not {wanted!r}")
            if quantity.get("value") is None or not quantity.get("unit"):
                problems.append("component valueQuantity without value or unit")
    return problems


def test_bp_check_can_fail() -> None:
    bad = {
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "component": [{"code": {"coding": [{"system": "urn:iso:std:iso:11073:10101", "code": "150021"}]},
                       "valueQuantity": {"value": 120, "unit": "mmHg", "system": UCUM, "code": "mmHg"}}],
    }
    problems = bp_profile_problems(bad)
    assert "category VSCat missing" in problems
    assert any("SystolicBP" in p for p in problems)
    assert any("DiastolicBP" in p for p in problems)


def test_every_blood_pressure_satisfies_the_bp_profile(recorded: RecordedSession, tmp_path: Path) -> None:
    fhir = json.loads(export(recorded, tmp_path / "s.json", "fhir"))
    observations = [e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "Observation"]
    bps = [o for o in observations if _has_coding(o["code"], LOINC, "85354-9")]
    assert len(bps) >= 4
    for bp in bps:
        assert bp_profile_problems(bp) == []
        assert bp["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/bp"]
    pulse = [o for o in observations if _has_coding(o["code"], LOINC, "8889-8")]
    assert pulse
    assert all(_has_coding(o["code"], "urn:iso:std:iso:11073:10101", "149530") for o in pulse)
    assert not any(_has_coding(o["code"], LOINC, "8867-4") for o in pulse)


def test_a_cuff_without_a_diastolic_still_satisfies_the_profile(recorded: RecordedSession) -> None:
    store = Store(recorded.path)
    try:
        record = load(store, recorded.session_id, options=ExportOptions(resample_s=60.0))
    finally:
        store.close()
    t = record.started_at + 100
    partial = (Reading(t, Parameter.NIBP_SYS, 131.0, "x"), Reading(t, Parameter.NIBP_MEAN, 99.0, "x"))
    from dataclasses import replace

    written = io.StringIO()
    fhir_export.write(replace(record, readings=partial), written)  # the streamed export, validated as it goes
    data = json.loads(written.getvalue())
    (bp,) = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Observation"
             and _has_coding(e["resource"]["code"], LOINC, "85354-9")]
    assert bp_profile_problems(bp) == []
    dia = next(c for c in bp["component"] if _has_coding(c["code"], LOINC, "8462-4"))
    assert "valueQuantity" not in dia
    assert dia["dataAbsentReason"]["coding"][0]["code"] == "unknown"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    """A short session without an identified patient."""
    return record_session(tmp_path_factory.mktemp("plain") / "m.db", plan="baseline:1,infusion:2,recovery:1",
                          with_patient=False)


def test_unidentified_session_still_has_pid5(plain: RecordedSession, tmp_path: Path) -> None:
    messages = split_messages(export(plain, tmp_path / "p.hl7", "hl7"))
    for message in sample(messages)[:10]:
        strict(message)
