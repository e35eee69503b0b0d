"""A device changed mid-session: the records name the device each value came from."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.store import Store
from tests.monitor.records.lifecycle import advance, export_text, new, run, to_infusion


@pytest.fixture
def changed(db_path: Path) -> tuple[str, float, str, str]:
    with Store(db_path) as store:
        rec = new(store, patient="MRN-DEVICE")
        to_infusion(rec)
        advance(rec, 300)
        old = rec.source.device
        replacement = SimulatedSource(seed=9, speed=math.inf, start_time=rec.session.now)
        run(rec, "change_source", source=replacement, driver="simulated", port=None)
        changed_at = rec.session.now
        advance(rec, 300)
        rec.stop()
        rec.close()
        return rec.session.id, changed_at, old, replacement.device


Changed = tuple[str, float, str, str]


def test_hl7_obx18_names_the_device_that_measured_the_value(db_path: Path, changed: Changed) -> None:
    sid, _, old, new_device = changed
    assert old != new_device
    vitals = [seg.split("|") for seg in export_text(db_path, sid, "hl7").split("\r")
              if seg.startswith("OBX") and "^MDC" in seg]
    assert vitals[0][18] == old
    assert vitals[-1][18] == new_device


def test_fhir_observations_name_the_device_that_measured_them(db_path: Path, changed: Changed) -> None:
    sid, _, _, new_device = changed
    bundle = json.loads(export_text(db_path, sid, "fhir"))
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
                    and e["resource"].get("device")]
    assert observations[-1]["device"]["display"] == new_device
