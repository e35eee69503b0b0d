"""A score entered in error (MOAA/S 1 typed for 4) is corrected in the session: the wrong entry stays on the
timeline, superseded, and everything derived from scores reads the corrected value."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from typing import Any

import hl7
import pytest
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from drivers.core.readings import iso_utc
from drivers.simulated.driver import SimulatedSource
from monitor import chair
from monitor.course import load_course_by_mrn
from monitor.entered_in_error import CorrectionError, standing_entries, superseded
from monitor.exports import csv_tables, fhir_export, hl7_export, json_export, pdf_export
from monitor.exports.data import load
from monitor.exports.treatment import LOCAL_SYSTEM_HL7
from monitor.plan import SessionPlan
from monitor.protocols import RESPIRATION_SCALE, load_protocol, respiratory_checks
from monitor.recorder import Recorder
from monitor.session import EventKind, Phase
from monitor.store import Store
from tests.monitor.course.test_dose_entries import _run, _until  # the same nurse at the same recorder

T0 = 1_790_000_000.0
KETAMINE = load_protocol("ketamine-iv")


@pytest.fixture
def recorder(store: Store) -> Iterator[Recorder]:
    plan = SessionPlan(5, 40, 30)
    source = SimulatedSource(seed=3, speed=math.inf, start_time=T0, plan=plan.phase_times())
    rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=plan, autopilot=True,
                               nurse="RN", protocol=KETAMINE)
    yield rec
    rec.run(until=lambda r: True)


def _lowest_moaas(rec: Recorder) -> Any:
    [row] = load_course_by_mrn(rec.store, "MRN-SCORE-1").rows
    return row.lowest_moaas


def _highest_cadss(rec: Recorder) -> Any:
    [row] = load_course_by_mrn(rec.store, "MRN-SCORE-1").rows
    return row.highest_cadss


def _discharge_problems(rec: Recorder) -> Any:
    return chair.discharge_score_problems(KETAMINE, rec.store.events(rec.session.id))


def _rass(rec: Recorder) -> Any:
    return [e.detail["value"] for e in standing_entries(rec.store.events(rec.session.id))
            if e.kind is EventKind.SCORE]


def _breathing(rec: Recorder) -> Any:
    return [(e.detail["value"], e.detail["depression"]) for e in respiratory_checks(rec.store.events(rec.session.id))]


# scale, phase it is entered in, the wrong entry, the correction, what is derived, its value with the wrong entry,
# and with the correction.
CASES = [
    ("MOAA/S", Phase.INFUSION, {"value": 1}, {"value": 4}, _lowest_moaas, 1.0, 4.0),
    # The first CADSS-6 after the end is the infusion-end score; the second, the pre-discharge one, is corrected.
    ("CADSS-6", Phase.RECOVERY, {"value": 9, "items": [2, 2, 2, 1, 1, 1]}, {"value": 0, "items": [0] * 6},
     _discharge_problems, ["CADSS-6 9: not back to the baseline 0"], []),
    ("CADSS-6", Phase.INFUSION, {"value": 9, "items": [2, 2, 2, 1, 1, 1]}, {"value": 3, "items": [1, 1, 1, 0, 0, 0]},
     _highest_cadss, 9.0, 3.0),
    ("RASS", Phase.INFUSION, {"value": -4}, {"value": -1}, _rass, [-4], [-1]),
    (RESPIRATION_SCALE, Phase.RECOVERY, {"value": 6, "depression": True}, {"value": 16, "depression": False},
     _breathing, [(6, True)], [(16, False)]),
]


@pytest.mark.parametrize(("scale", "phase", "wrong", "right", "derived", "before", "after"), CASES,
                         ids=[f"{c[0]}-{c[4].__name__}" for c in CASES])
def test_a_score_entered_in_error_is_corrected_and_the_figures_follow(
    recorder: Recorder, scale: str, phase: Phase, wrong: dict[str, Any], right: dict[str, Any], derived: Any,
    before: Any, after: Any,
) -> None:
    _run(recorder, "identify_patient", mrn="MRN-SCORE-1")
    _until(recorder, phase, 60)
    with pytest.raises(CorrectionError, match="none to correct"):
        _run(recorder, "score", scale=scale, corrects_last=True, correction_reason="typo", **right)
    if derived is _discharge_problems:
        _run(recorder, "score", scale=scale, value=4, items=[1, 1, 1, 1, 0, 0])  # the infusion-end score
    _run(recorder, "score", scale=scale, **wrong)
    wrong_at = recorder.session.now
    recorder.flush()
    assert derived(recorder) == before
    for _ in range(30):
        recorder.step()
    with pytest.raises(CorrectionError, match="needs a reason"):
        _run(recorder, "score", scale=scale, corrects_last=True, correction_reason="  ", **right)
    _run(recorder, "score", scale=scale, corrects_last=True, correction_reason="typed 1 for 4", **right)
    recorder.flush()
    assert derived(recorder) == after
    events = recorder.store.events(recorder.session.id)
    scores = [e for e in events if e.kind is EventKind.SCORE]
    # Nothing is deleted: the wrong entry stays, superseded by the correction, who made it, when and why.
    scores = scores[-2:]
    assert [e.detail["value"] for e in scores] == [wrong["value"], right["value"]]
    assert superseded(events) == {events.index(scores[0]): scores[1]}
    assert scores[1].detail["corrects_at"] == wrong_at
    assert scores[1].detail["correction_reason"] == "typed 1 for 4"
    assert scores[1].user == "RN" and scores[1].t > wrong_at


def test_a_correction_of_a_correction_replaces_the_same_assessment(recorder: Recorder) -> None:
    _run(recorder, "identify_patient", mrn="MRN-SCORE-1")
    _until(recorder, Phase.INFUSION, 60)
    _run(recorder, "score", scale="MOAA/S", value=1)
    wrong_at = recorder.session.now
    _run(recorder, "score", scale="MOAA/S", value=2, corrects_last=True, correction_reason="typed 1 for 4")
    _run(recorder, "score", scale="MOAA/S", value=4, corrects_last=True,
         correction_reason="the correction was wrong too")
    recorder.flush()
    events = recorder.store.events(recorder.session.id)
    standing = [e for e in standing_entries(events) if e.kind is EventKind.SCORE]
    assert [(e.t, e.detail["value"]) for e in standing] == [(wrong_at, 4)]
    assert standing_entries(standing) == standing  # read twice, the same
    assert _lowest_moaas(recorder) == 4.0
    scores = [e for e in events if e.kind is EventKind.SCORE]
    assert [chair.score_text(e.detail) for e in scores] == [
        "MOAA/S 1",
        "MOAA/S 2, correcting MOAA/S 1 entered in error: typed 1 for 4",
        "MOAA/S 4, correcting MOAA/S 2 entered in error: the correction was wrong too",
    ]
    assert sorted(superseded(events)) == sorted(events.index(e) for e in scores[:2])


def test_every_export_shows_the_wrong_score_superseded_and_its_correction(recorder: Recorder) -> None:
    _run(recorder, "identify_patient", mrn="MRN-SCORE-1")
    _until(recorder, Phase.INFUSION, 60)
    _run(recorder, "score", scale="MOAA/S", value=1)
    for _ in range(30):
        recorder.step()
    _run(recorder, "score", scale="MOAA/S", value=4, corrects_last=True, correction_reason="typed 1 for 4")
    recorder.flush()
    record = load(recorder.store, recorder.session.id)
    wrong, right = [e for e in record.events if e.kind is EventKind.SCORE]
    marked = f"SUPERSEDED, entered in error: corrected to 4 by RN at {iso_utc(right.t)}: typed 1 for 4"

    written = io.StringIO()
    csv_tables.write_events(record, written)
    texts = [row[5] for row in csv.reader(io.StringIO(written.getvalue())) if row[3:4] == ["score"]]
    assert texts == [f"MOAA/S 1 ({marked})", "MOAA/S 4, correcting MOAA/S 1 entered in error: typed 1 for 4"]

    written = io.StringIO()
    json_export.write(record, written)
    scores = [e for e in json.loads(written.getvalue())["events"] if e["kind"] == "score"]
    assert scores[0]["superseded_by"] == {"t": iso_utc(right.t), "user": "RN", "value": 4, "reason": "typed 1 for 4"}
    assert "superseded_by" not in scores[1] and scores[1]["detail"]["corrected_value"] == 1

    pdf = io.BytesIO()
    pdf_export.write(record, pdf)
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.getvalue())).pages).split())
    assert "MOAA/S 1 - SUPERSEDED, entered in error: corrected to 4 by RN" in text
    assert "MOAA/S 4, correcting MOAA/S 1 entered in error: typed 1 for 4" in text

    written = io.StringIO()
    hl7_export.write(record, written)
    batch = hl7.parse_file(written.getvalue())[0]
    obx = [m.segment("OBX") for m in batch if str(m.segment("OBX")(3)(1)(3)) == LOCAL_SYSTEM_HL7]
    # OBX-5 the value, OBX-11 the status: W the original posted as wrong, C its correction.
    assert [(str(o(3)(1)(1)), str(o(5)), str(o(11))) for o in obx] == [("score-moaas", "1", "W"),
                                                                      ("score-moaas", "4", "C")]

    written = io.StringIO()
    fhir_export.write(record, written)
    bundle = Bundle.model_validate(json.loads(written.getvalue()))
    observations = [e.resource for e in bundle.entry if e.resource.__resource_type__ == "Observation"
                    and e.resource.code.coding[0].system == fhir_export.SCORE_SYSTEM]
    assert [(o.valueQuantity.value, o.status) for o in observations] == [(1, "entered-in-error"), (4, "corrected")]
    assert observations[0].note[0].text == f"MOAA/S 1 ({marked})"
    assert wrong.t < right.t
