"""A device changed mid-session: the records name the device each value came from."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from pathlib import Path

import pypdf
import pytest

from drivers.core.readings import iso_utc
from drivers.hl7.v2 import hl7_time
from drivers.simulated.driver import SimulatedSource
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import leave_unfinished
from tests.monitor.records.lifecycle import advance, export_text, new, run, to_infusion


def _record_a_change(db_path: Path, mrn: str, before_s: float, replacement_at: Callable[[float], SimulatedSource],
                     driver: str, port: str | None) -> tuple[str, float, str, str]:
    """A session changed to the device ``replacement_at(now)`` after ``before_s`` of infusion, then run 5 min more:
    (session id, time of the change, old device, new device)."""
    with Store(db_path) as store:
        rec = new(store, patient=mrn)
        to_infusion(rec)
        advance(rec, before_s)
        old = rec.source.device
        replacement = replacement_at(rec.session.now)
        run(rec, "change_source", source=replacement, driver=driver, port=port)
        changed_at = rec.session.now
        advance(rec, 300)
        rec.stop()
        rec.close()
        return rec.session.id, changed_at, old, replacement.device


@pytest.fixture
def changed(db_path: Path) -> tuple[str, float, str, str]:
    return _record_a_change(db_path, "MRN-DEVICE", 300,
                            lambda now: SimulatedSource(seed=9, speed=math.inf, start_time=now), "simulated", None)


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


class _OtherMonitor(SimulatedSource):
    """A second kind of monitor: its readings carry its own source id, the first few stamped before the change is
    (as a device's readings are that come in while the change is being recorded)."""

    def __init__(self, start_time: float) -> None:
        super().__init__(seed=11, speed=math.inf, start_time=start_time - EARLY_S)
        self.name = self.source_id = "other-monitor"
        self.device = "Other monitor on /dev/ttyOTHER"


#: How many seconds of the new device's readings are stamped before the change event (half a second off the
#: old device's beat, so a time names one device's readings).
EARLY_S = 2.5


@pytest.fixture
def changed_kind(db_path: Path) -> tuple[str, float, str, str]:
    return _record_a_change(db_path, "MRN-KIND", 60, _OtherMonitor, "other-monitor", "/dev/ttyOTHER")


def _stored_sources(db_path: Path, sid: str) -> dict[tuple[str, float], str]:
    with Store(db_path) as store:
        return {(r.parameter.value, r.t): r.source for r in store.readings(sid)}


def test_hl7_credits_each_value_to_the_device_its_stored_source_names(db_path: Path, changed_kind: Changed) -> None:
    sid, changed_at, old, new_device = changed_kind
    by_device = {"simulated": old, "other-monitor": new_device}
    sources = _stored_sources(db_path, sid)
    early = [t for (_p, t), source in sources.items() if source == "other-monitor" and t < changed_at]
    assert early, "the new device's first readings should come before the change is stamped"
    # Which devices' readings fall on each HL7 time (looked up once: a scan of every reading per segment took 40 s).
    at_time: dict[str, set[str]] = {}
    for (_p, rt), source in sources.items():
        at_time.setdefault(hl7_time(rt), set()).add(source)
    checked = 0
    for seg in export_text(db_path, sid, "hl7").split("\r"):
        fields = seg.split("|")
        if seg.startswith("OBX") and "^MDC" in seg:
            mdc = fields[3]
            t = fields[14]
            matching = at_time.get(t, set())
            assert len(matching) == 1, (mdc, t)
            assert fields[18] == by_device[next(iter(matching))]
            checked += 1
    assert checked > 100


def test_fhir_credits_each_value_to_the_device_its_stored_source_names(db_path: Path, changed_kind: Changed) -> None:
    sid, changed_at, old, new_device = changed_kind
    from monitor.exports import export_to
    from monitor.exports.data import ExportOptions

    with Store(db_path) as store:
        buf = io.StringIO()
        export_to(store, sid, "fhir", ExportOptions(resample_s=0), stream=buf)
    bundle = json.loads(buf.getvalue())
    sources = _stored_sources(db_path, sid)
    by_time = {iso_utc(t): s for (_p, t), s in sources.items()}
    by_device = {"simulated": old, "other-monitor": new_device}
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
                    and e["resource"].get("effectiveDateTime") in by_time]
    assert len(observations) > 100
    for o in observations:
        assert o["device"]["display"] == by_device[by_time[o["effectiveDateTime"]]], o["effectiveDateTime"]
    early = [o for o in observations if by_time[o["effectiveDateTime"]] == "other-monitor"
             and o["effectiveDateTime"] < iso_utc(changed_at)]
    assert early


def test_fhir_summary_spans_are_each_of_one_device(db_path: Path, changed_kind: Changed) -> None:
    sid, _, old, new_device = changed_kind
    bundle = json.loads(export_text(db_path, sid, "fhir"))
    summaries = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
                 and "effectivePeriod" in e["resource"]]
    ids = [o["id"] for o in summaries]
    assert len(ids) == len(set(ids))
    assert {o["device"]["display"] for o in summaries} == {old, new_device}


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_report_names_every_device_and_each_change_from_and_to(db_path: Path, changed_kind: Changed) -> None:
    sid, _, old, new_device = changed_kind
    text = pdf_text(export_text(db_path, sid, "pdf").encode("latin-1"))
    header = text[:text.index("Nurse(s)")]
    assert old in header and new_device in header
    assert f"Device changed from {old} to {new_device}" in text


def test_a_resume_on_another_device_names_it_and_credits_its_values(db_path: Path) -> None:
    with Store(db_path) as store:
        rec = new(store, patient="MRN-RESUMED")
        to_infusion(rec)
        advance(rec, 30)
        rec.close()
        sid = rec.session.id
        leave_unfinished(db_path, sid)
        other = _OtherMonitor(rec.session.now + 20)
        again = Recorder.resume_session(store, other, sid)
        advance(again, 30)
        again.stop()
        again.close()
    hl7 = [seg.split("|") for seg in export_text(db_path, sid, "hl7").split("\r") if seg.startswith("OBX")
           and "^MDC" in seg]
    assert {fields[18] for fields in hl7} == {"Simulated monitor (scenario normal, seed 3)", other.device}
    assert hl7[-1][18] == other.device
    text = pdf_text(export_text(db_path, sid, "pdf").encode("latin-1"))
    assert f"Recording resumed on {other.device}" in text
