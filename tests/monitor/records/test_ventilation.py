"""Ventilation end to end: the simulated capnograph, the alarm rules, the store, and every export."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.core.readings import Parameter
from drivers.patient.model import SimulatedPatient
from monitor.alarms.engine import AlarmEngine
from monitor.cli import main
from monitor.exports.data import load
from monitor.store import Store
from tests.csv_files import rows as csv_rows
from tests.monitor.records.sessions import RecordedSession, record_session
from tests.monitor.records.test_export_validation import sample, split_messages, strict

T0 = 1_790_000_000.0


def test_only_capnography_scenarios_have_ventilation_values() -> None:
    plain = SimulatedPatient("normal", seed=2, start=T0)
    assert {r.parameter for t in range(60) for r in plain.numerics(T0 + t, "sim")} == {
        Parameter.HR, Parameter.PR, Parameter.SPO2,
    }
    capno = SimulatedPatient("capnography", seed=2, start=T0)
    readings = [r for t in range(600) for r in capno.numerics(T0 + t, "sim")]
    rr = [r.value for r in readings if r.parameter is Parameter.RR]
    co2 = [r.value for r in readings if r.parameter is Parameter.ETCO2]
    assert len(rr) == len(co2) == 600
    assert all(9 <= v <= 19 for v in rr if v is not None)
    assert all(31 <= v <= 44 for v in co2 if v is not None)
    # The same seed gives the same heart rate with or without capnography.
    again = SimulatedPatient("normal", seed=2, start=T0)
    normal_hr = [r.value for t in range(600) for r in again.numerics(T0 + t, "sim") if r.parameter is Parameter.HR]
    assert normal_hr == [r.value for r in readings if r.parameter is Parameter.HR]


@pytest.fixture(scope="module")
def depressed(tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    return record_session(
        tmp_path_factory.mktemp("vent") / "m.db",
        plan="baseline:1,infusion:21,recovery:1",
        scenario="respiratory_depression",
        alarms=AlarmEngine(),
    )


def test_respiratory_depression_is_stored_and_alarms(depressed: RecordedSession) -> None:
    with Store(depressed.path) as store:
        record = load(store, depressed.session_id)
        alarms = {row.condition for row in store.alarms(depressed.session_id)}
    rr = [r for r in record.readings if r.parameter is Parameter.RR]
    assert rr and min(r.value for r in rr if r.value is not None) == 0.0
    assert max(r.value for r in record.readings if r.parameter is Parameter.ETCO2 and r.value is not None) >= 52
    assert {"rr_low", "no_breath", "etco2_high"} <= alarms


def _export(recorded: RecordedSession, tmp_path: Path, fmt: str) -> str:
    out = tmp_path / f"s.{fmt}"
    assert main(["export", recorded.session_id, "--db", str(recorded.path), "--format", fmt, "--out", str(out)]) == 0
    return out.read_bytes().decode("utf-8")


def test_every_export_carries_ventilation(depressed: RecordedSession, tmp_path: Path) -> None:
    rows = csv_rows(_export(depressed, tmp_path, "csv"))
    assert {"rr", "etco2"} <= {row.get("parameter") for row in rows}
    assert "etco2" in _export(depressed, tmp_path, "json")
    messages = split_messages(_export(depressed, tmp_path, "hl7"))
    with_vent = [m for m in messages if "|9279-1^Respiratory rate^LN^151562^MDC_RESP_RATE^MDC|" in m]
    assert with_vent and any("|19889-5^" in m and "^151708^MDC_AWAY_CO2_ET^MDC|" in m for m in with_vent)
    for message in [*with_vent[:5], *sample(messages)[:5]]:
        strict(message)
    fhir = json.loads(_export(depressed, tmp_path, "fhir"))
    codes = {c["code"] for e in fhir["entry"] for c in e["resource"].get("code", {}).get("coding", [])}
    assert {"9279-1", "151562", "19889-5", "151708"} <= codes


def test_a_session_without_capnography_exports_none(recorded: RecordedSession, store_of: Callable[..., Store]) -> None:
    record = load(store_of(recorded), recorded.session_id)
    assert not [r for r in record.readings if r.parameter in (Parameter.RR, Parameter.ETCO2)]
