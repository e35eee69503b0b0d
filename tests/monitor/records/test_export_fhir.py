"""FHIR export parsed back into an R4B Bundle by fhir.resources and checked against the store."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from drivers.core.readings import Parameter
from monitor.exports.data import load
from monitor.store import Store
from tests.monitor.records.sessions import BIRTH_DATE, MRN, RecordedSession, export_bytes, record_session

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def export(recorded: RecordedSession, out: Path, *extra: str) -> Bundle:
    export_bytes(recorded, out, "fhir", *extra)
    return Bundle.model_validate_json(out.read_text(encoding="utf-8"))


def codes(observation) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.code for c in observation.code.coding if c.system == LOINC}


def resources(bundle: Bundle, kind: str) -> list:  # type: ignore[type-arg]
    return [e.resource for e in bundle.entry if e.resource.get_resource_type() == kind]


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    """An 8-minute session: every value as its own Observation is slow to validate."""
    return record_session(tmp_path_factory.mktemp("fhir") / "m.db", plan="baseline:1,infusion:6,recovery:1")


@pytest.fixture(scope="module")
def every_value(short: RecordedSession, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return export(short, tmp_path_factory.mktemp("fhir") / "all.json", "--resample", "all")


def test_bundle_holds_patient_encounter_and_one_observation_per_value(
    every_value: Bundle, short: RecordedSession, store_of: Callable[..., Store]
) -> None:
    record = load(store_of(short), short.session_id)
    assert every_value.type == "collection"
    (patient,) = resources(every_value, "Patient")
    assert patient.identifier[0].value == MRN
    assert patient.identifier[0].type.coding[0].code == "MR"
    assert patient.name[0].family == "Quillfeather"
    assert str(patient.birthDate) == BIRTH_DATE
    (encounter,) = resources(every_value, "Encounter")
    assert encounter.status == "finished"
    assert encounter.identifier[0].value == short.session_id
    observations = resources(every_value, "Observation")
    reliable = [r for r in record.readings if r.reliable]
    continuous = [r for r in reliable if r.parameter in (Parameter.HR, Parameter.PR, Parameter.SPO2)]
    cuffs = [r for r in reliable if r.parameter is Parameter.NIBP_SYS]
    assert len(observations) == len(continuous) + len(cuffs)
    for obs in observations:
        assert obs.category[0].coding[0].code == "vital-signs"
        assert obs.subject.reference == f"urn:uuid:{patient.id}"
        assert obs.encounter.reference == f"urn:uuid:{encounter.id}"


def test_values_units_and_codes(every_value: Bundle, short: RecordedSession, store_of: Callable[..., Store]) -> None:
    record = load(store_of(short), short.session_id)
    stored = {(round(r.t), r.parameter): r.value for r in record.readings if r.reliable}
    units = {"8867-4": "/min", "59408-5": "%"}
    counts = {"hr": 0, "spo2": 0, "bp": 0}
    for obs in resources(every_value, "Observation"):
        t = round(obs.effectiveDateTime.timestamp())
        if "85354-9" in codes(obs):
            counts["bp"] += 1
            parts = {next(iter(codes(c))): c.valueQuantity for c in obs.component}
            assert {"8480-6", "8462-4"} <= set(parts)
            assert parts["8480-6"].value == stored[(t, Parameter.NIBP_SYS)]
            assert parts["8462-4"].value == stored[(t, Parameter.NIBP_DIA)]
            assert parts["8478-0"].value == stored[(t, Parameter.NIBP_MEAN)]
            for q in parts.values():
                assert (q.system, q.code, q.unit) == (UCUM, "mm[Hg]", "mm[Hg]")
            continue
        q = obs.valueQuantity
        assert q.system == UCUM
        assert q.code == q.unit
        if "59408-5" in codes(obs):
            counts["spo2"] += 1
            assert codes(obs) == {"59408-5", "2708-6"}
            assert q.code == units["59408-5"]
            assert q.value == stored[(t, Parameter.SPO2)]
        else:
            # Heart rate 8867-4 (ECG, MDC 147842); the oximeter's pulse rate 8889-8 (MDC 149530).
            mdc = {c.code for c in obs.code.coding if c.system != LOINC}
            parameter = Parameter.HR if mdc == {"147842"} else Parameter.PR
            assert codes(obs) == ({"8867-4"} if parameter is Parameter.HR else {"8889-8"})
            assert mdc == ({"147842"} if parameter is Parameter.HR else {"149530"})
            counts["hr"] += 1
            assert q.code == units["8867-4"]
            assert q.value == stored[(t, parameter)]
            assert obs.interpretation[0].coding[0].code == ("N" if 50 <= q.value <= 120 else "H")
    assert counts["bp"] >= 2
    assert counts["spo2"] > 400
    assert counts["hr"] == 2 * counts["spo2"]


def test_default_export_summarises_numerics_per_minute(
    recorded: RecordedSession, tmp_path: Path, store_of: Callable[..., Store]
) -> None:
    bundle = export(recorded, tmp_path / "minute.json")
    record = load(store_of(recorded), recorded.session_id)
    observations = resources(bundle, "Observation")
    spo2 = [o for o in observations if "59408-5" in codes(o)]
    minutes = {
        int((r.t - record.started_at) // 60) for r in record.readings if r.parameter is Parameter.SPO2 and r.reliable
    }
    assert len(spo2) == len(minutes)
    first = spo2[0]
    begin, end = first.effectivePeriod.start.timestamp(), first.effectivePeriod.end.timestamp()
    values = [r.value for r in record.readings if r.parameter is Parameter.SPO2 and r.reliable and begin <= r.t <= end]
    assert first.valueQuantity.value == statistics.median(values)
    assert f"median of {len(values)}" in first.method.text
    assert len([o for o in observations if "85354-9" in codes(o)]) >= 4


def _observation_entries(recorded: RecordedSession) -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
    from monitor.exports import fhir_export

    with Store(recorded.path) as store:
        record = load(store, recorded.session_id)
    entries = list(fhir_export._body_entries(record, fhir_export._Builder(record)))
    return fhir_export._bundle_shell(record), entries


def test_validation_with_shared_elements_agrees_with_validating_the_whole_bundle(recorded: RecordedSession) -> None:
    from monitor.exports.fhir_export import _Validator

    shell, entries = _observation_entries(recorded)
    observations = [e["resource"] for e in entries if e["resource"]["resourceType"] == "Observation"]
    heart_rates = [o for o in observations if o["code"]["coding"][0]["code"] == "8867-4"]
    assert len(heart_rates) > 10 and heart_rates[0]["code"] is heart_rates[-1]["code"]  # shared, as it claims
    Bundle.model_validate({**shell, "entry": entries})
    validator = _Validator(shell)
    validator.block(entries)
    # Shared elements (codes, ranges, recurring values) validated once each, not once per Observation.
    from monitor.exports.fhir_export import _SHARED_ELEMENTS

    occurrences = sum(1 for o in observations for key in _SHARED_ELEMENTS if key in o)
    assert len(validator.kept) > 0 and len(validator.kept) * 4 < occurrences, (len(validator.kept), occurrences)
    by_value: dict[float, list[dict]] = {}  # type: ignore[type-arg]
    for o in heart_rates:
        by_value.setdefault(o["valueQuantity"]["value"], []).append(o)
    repeated = [group for group in by_value.values() if len(group) > 1]
    assert repeated and all(o["valueQuantity"] is group[0]["valueQuantity"] for group in repeated for o in group)


@pytest.mark.parametrize("broken", ["a later value", "a shared element", "an element only one has"])
def test_validation_with_shared_elements_still_refuses_what_the_bundle_model_refuses(
    recorded: RecordedSession, broken: str
) -> None:
    from pydantic import ValidationError

    from monitor.exports.fhir_export import _Validator

    shell, entries = _observation_entries(recorded)
    later = [e["resource"] for e in entries if e["resource"]["resourceType"] == "Observation"
             and e["resource"]["code"]["coding"][0]["code"] == "8867-4"][10]
    if broken == "a later value":
        later["valueQuantity"] = {**later["valueQuantity"], "value": "seventy"}
    elif broken == "a shared element":
        later["code"]["coding"][0]["system"] = 12  # the object every Observation of that parameter shares
    else:
        later["device"] = {"display": ["not", "text"]}
    with pytest.raises(ValidationError):
        Bundle.model_validate({**shell, "entry": entries})
    validator = _Validator(shell)

    def in_blocks() -> None:
        for start in range(0, len(entries), 20):
            validator.block(entries[start:start + 20])

    with pytest.raises(ValidationError):
        in_blocks()
