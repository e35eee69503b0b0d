"""An intervention, a note or a quick event entered in error (midazolam 20 mg typed for 2 mg, oxygen recorded at
the wrong chair, V pressed for X) is corrected in the session: the wrong entry stays on the timeline, marked, the
audit log says who, when and why, and everything derived reads the entry that stands."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

import hl7
import pytest
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from drivers.core.readings import iso_utc
from monitor import dose
from monitor.course import load_course_by_mrn, shows_nausea
from monitor.entered_in_error import CorrectionError, correction_detail, standing_entries, superseded
from monitor.exports import csv_tables, fhir_export, hl7_export, json_export, pdf_export
from monitor.exports.data import load
from monitor.exports.treatment import summary
from monitor.recorder import Recorder
from monitor.session import EventKind, Phase, SessionEvent
from tests.monitor.course import test_dose_entries
from tests.monitor.course.test_dose_entries import _run, _until

#: The same nurse at the same recorder as the dose entries (a fixture).
recorder = test_dose_entries.recorder

MIDAZOLAM_20 = {"kind": "benzodiazepine", "drug": "midazolam", "dose": 20.0, "route": "IV"}
MIDAZOLAM_2 = {**MIDAZOLAM_20, "dose": 2.0}
OXYGEN = {"kind": "oxygen", "dose": 2.0}


def _intervention(args: Mapping[str, Any]) -> dict[str, Any]:
    return dose.intervention(args["kind"], args.get("drug", ""), args.get("dose"), args.get("route", "")).as_dict()


def _entry(t: float, kind: EventKind, detail: Mapping[str, Any]) -> SessionEvent:
    return SessionEvent(t, kind, Phase.INFUSION, "RN", dict(detail))


def _corrected(events: list[SessionEvent], t: float, kind: EventKind, detail: Mapping[str, Any],
               withdrawn: bool = False) -> list[SessionEvent]:
    """``events`` with a correction of the last entry of ``kind`` made at ``t``."""
    fix = correction_detail(events, kind, "typed in error", withdrawn=withdrawn)
    return [*events, _entry(t, kind, {**detail, **fix})]


def _standing(events: list[SessionEvent]) -> list[tuple[float, str, Any]]:
    return [(e.t, e.kind.value, e.detail.get("text")) for e in standing_entries(events)
            if e.kind is not EventKind.SCORE]


# what is entered in error, its correction (None: nothing stands in for it), and what the figures then read: the
# standing entries, the interventions given, the last oxygen and whether the session shows nausea.
CASES = [
    ("a dose typed ten times too high", EventKind.INTERVENTION, _intervention(MIDAZOLAM_20),
     _intervention(MIDAZOLAM_2),
     [(100.0, "intervention", "benzodiazepine midazolam 2 mg IV")], [(100.0, 2.0)], None, False),
    ("oxygen recorded at the wrong chair", EventKind.INTERVENTION, _intervention(OXYGEN), None, [], [], None, False),
    ("an antiemetic that was not given", EventKind.INTERVENTION,
     _intervention({"kind": "antiemetic", "drug": "ondansetron", "dose": 4.0}), None, [], [], None, False),
    ("a note about another patient", EventKind.NOTE, {"text": "pt in chair 3 vomited"}, None, [], [], None, False),
    ("a note with the wrong words", EventKind.NOTE, {"text": "pt anxious"}, {"text": "pt calm"},
     [(100.0, "note", "pt calm")], [], None, False),
    ("V pressed for X", EventKind.QUICK_EVENT, {"what": "nausea_vomiting", "text": "Nausea/vomiting"},
     {"what": "anxiety", "text": "Anxiety"}, [(100.0, "quick_event", "Anxiety")], [], None, False),
    ("a quick event pressed by mistake", EventKind.QUICK_EVENT, {"what": "nausea_vomiting", "text": "Nausea/vomiting"},
     None, [], [], None, False),
]


@pytest.mark.parametrize(("kind", "wrong", "right", "standing", "given", "oxygen", "nausea"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_entry_in_error_is_read_as_corrected(
    kind: EventKind, wrong: dict[str, Any], right: dict[str, Any] | None, standing: Any, given: Any,
    oxygen: Any, nausea: bool,
) -> None:
    events = [_entry(50.0, EventKind.INFUSION_STARTED, {}), _entry(100.0, kind, wrong)]
    with pytest.raises(CorrectionError, match="needs a reason"):
        correction_detail(events, kind, "  ")
    corrected = _corrected(events, 130.0, kind, right or {}, withdrawn=right is None)
    # Nothing is deleted: the wrong entry is superseded by its correction, which says what it replaced.
    assert superseded(corrected) == {1: corrected[2]}
    assert corrected[2].detail["corrects_at"] == 100.0
    assert corrected[2].detail["corrected_value"] == wrong["text"]
    assert corrected[2].detail["correction_reason"] == "typed in error"
    # What the figures read.
    assert _standing(corrected) == [(50.0, "infusion_started", None), *standing]
    assert standing_entries(standing_entries(corrected)) == standing_entries(corrected)  # read twice, the same
    assert [(t, i.dose) for t, i in dose.interventions(corrected)] == given
    assert dose.last_oxygen(corrected) == oxygen
    assert any(shows_nausea(e.kind, e.detail, after_dosing=True) for e in standing_entries(corrected)) == nausea
    # Before the correction, the wrong entry counted.
    assert _standing(events)[1:] == [(100.0, kind.value, wrong["text"])]


def test_a_correction_of_a_correction_corrects_the_first_entry() -> None:
    events = [_entry(100.0, EventKind.INTERVENTION, _intervention(MIDAZOLAM_20))]
    events = _corrected(events, 130.0, EventKind.INTERVENTION, _intervention({**MIDAZOLAM_20, "dose": 0.2}))
    events = _corrected(events, 160.0, EventKind.INTERVENTION, _intervention(MIDAZOLAM_2))
    assert events[2].detail["corrects_at"] == 100.0  # the same administration
    assert events[2].detail["corrected_value"] == "benzodiazepine midazolam 0.2 mg IV"
    assert sorted(superseded(events)) == [0, 1]
    assert [(t, i.dose) for t, i in dose.interventions(events)] == [(100.0, 2.0)]


def test_only_an_entry_of_the_same_kind_is_corrected() -> None:
    events = [_entry(100.0, EventKind.NOTE, {"text": "pt calm"})]
    with pytest.raises(CorrectionError, match="no intervention was entered"):
        correction_detail(events, EventKind.INTERVENTION, "wrong chair", withdrawn=True)


# -- at the recorder --------------------------------------------------------------------------------------------


def _audited(rec: Recorder, action: str) -> list[dict[str, Any]]:
    rec.flush()
    return [json.loads(a["detail"]) for a in rec.store.audit_log(rec.session.id) if a["action"] == action]


def _course_row(rec: Recorder) -> Any:
    [row] = load_course_by_mrn(rec.store, "MRN-ERROR-1").rows
    return row


def _entered_in_error(rec: Recorder) -> tuple[float, float]:
    """Midazolam 20 mg typed for 2 mg, corrected 30 s later; oxygen recorded at the wrong chair, withdrawn."""
    _run(rec, "identify_patient", mrn="MRN-ERROR-1")
    _until(rec, Phase.INFUSION, 60)
    _run(rec, "intervention", **MIDAZOLAM_20)
    wrong_at = rec.session.now
    for _ in range(30):
        rec.step()
    _run(rec, "intervention", **MIDAZOLAM_2, corrects_last=True, correction_reason="typed 20 for 2")
    right_at = rec.session.now
    _run(rec, "intervention", **OXYGEN)
    _run(rec, "intervention", corrects_last=True, withdrawn=True, correction_reason="the patient in chair 3")
    rec.flush()
    return wrong_at, right_at


def test_the_recorder_keeps_the_wrong_intervention_marked_and_audits_its_correction(recorder: Recorder) -> None:
    _run(recorder, "identify_patient", mrn="MRN-ERROR-1")
    _until(recorder, Phase.INFUSION, 60)
    with pytest.raises(CorrectionError, match="none to correct"):
        _run(recorder, "intervention", **MIDAZOLAM_2, corrects_last=True, correction_reason="typo")
    _run(recorder, "intervention", **MIDAZOLAM_20)
    with pytest.raises(CorrectionError, match="needs a reason"):
        _run(recorder, "intervention", **MIDAZOLAM_2, corrects_last=True, correction_reason=" ")
    recorder.flush()
    assert _course_row(recorder).interventions == ("benzodiazepine midazolam 20 mg IV",)
    _run(recorder, "intervention", **MIDAZOLAM_2, corrects_last=True, correction_reason="typed 20 for 2")
    _run(recorder, "intervention", **OXYGEN)
    _run(recorder, "intervention", corrects_last=True, withdrawn=True, correction_reason="the patient in chair 3")
    recorder.flush()

    events = recorder.store.events(recorder.session.id)
    entered = [e for e in events if e.kind is EventKind.INTERVENTION]
    assert [e.detail.get("text") for e in entered] == [
        "benzodiazepine midazolam 20 mg IV", "benzodiazepine midazolam 2 mg IV", "oxygen 2 L/min, route not recorded",
        None]
    assert {events.index(e) for e in (entered[0], entered[2])} == set(superseded(events))
    assert entered[1].detail["corrects_at"] == entered[0].t and entered[3].detail["withdrawn"] is True
    assert [(a["corrects_at"], a["correction_reason"]) for a in _audited(recorder, "intervention")
            if "corrects_at" in a] == [(entered[0].t, "typed 20 for 2"), (entered[2].t, "the patient in chair 3")]
    assert [a["reason"] for a in _audited(recorder, "intervention_refused")] == [
        "no intervention was entered in this session: there is none to correct",
        "a correction of the last intervention needs a reason"]
    # The course, the discharge form's oxygen and the exports' summary read what was given.
    assert _course_row(recorder).interventions == ("benzodiazepine midazolam 2 mg IV",)
    assert dose.last_oxygen(events) is None
    given = summary(load(recorder.store, recorder.session.id)).interventions
    assert [(t, i["text"]) for t, i in given] == [(entered[0].t, "benzodiazepine midazolam 2 mg IV")]


def test_a_note_and_a_quick_event_in_error_are_corrected_at_the_recorder(recorder: Recorder) -> None:
    _run(recorder, "identify_patient", mrn="MRN-ERROR-1")
    _until(recorder, Phase.INFUSION, 60)
    _run(recorder, "quick_event", what="nausea_vomiting", text="Nausea/vomiting")
    recorder.flush()
    assert _course_row(recorder).nausea_vomiting is True
    _run(recorder, "quick_event", corrects_last=True, correction_reason="pressed V for X")
    _run(recorder, "note", text="pt in chair 3 is anxious")
    _run(recorder, "note", text="pt calm", corrects_last=True, correction_reason="another patient")
    recorder.flush()
    assert _course_row(recorder).nausea_vomiting is False
    events = recorder.store.events(recorder.session.id)
    quick = [e for e in events if e.kind is EventKind.QUICK_EVENT]
    notes = [e for e in events if e.kind is EventKind.NOTE]
    assert [e.detail.get("text") for e in quick] == ["Nausea/vomiting", None]
    assert [e.detail.get("text") for e in notes] == ["pt in chair 3 is anxious", "pt calm"]
    assert {events.index(quick[0]), events.index(notes[0])} == set(superseded(events))
    # The audit log says who, when and why; the notes' texts stay on the timeline only.
    assert _audited(recorder, "quick_event") == [
        {"corrects_at": quick[0].t, "correction_reason": "pressed V for X", "withdrawn": True}]
    assert _audited(recorder, "note") == [{"corrects_at": notes[0].t, "correction_reason": "another patient"}]


# -- the exports --------------------------------------------------------------------------------------------------


def test_csv_events_mark_the_intervention_in_error_and_its_correction(recorder: Recorder) -> None:
    wrong_at, right_at = _entered_in_error(recorder)
    written = io.StringIO()
    csv_tables.write_events(load(recorder.store, recorder.session.id), written)
    rows = [row for row in csv.reader(io.StringIO(written.getvalue())) if row[3:4] == ["intervention"]]
    texts = [row[5] for row in rows]
    assert texts[0] == (f"benzodiazepine midazolam 20 mg IV (SUPERSEDED, entered in error: corrected to "
                        f"benzodiazepine midazolam 2 mg IV by RN at {iso_utc(right_at)}: typed 20 for 2)")
    assert texts[1] == ("benzodiazepine midazolam 2 mg IV, correcting benzodiazepine midazolam 20 mg IV entered in "
                        "error: typed 20 for 2")
    assert texts[2].startswith("oxygen 2 L/min, route not recorded (SUPERSEDED, entered in error: withdrawn by RN")
    assert texts[3] == ("no intervention, correcting oxygen 2 L/min, route not recorded entered in error: the "
                        "patient in chair 3")
    assert rows[0][0] == iso_utc(wrong_at)


def test_the_pdf_marks_the_intervention_in_error(recorder: Recorder) -> None:
    _entered_in_error(recorder)
    pdf = io.BytesIO()
    pdf_export.write(load(recorder.store, recorder.session.id), pdf)
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.getvalue())).pages).split())
    assert ("benzodiazepine midazolam 20 mg IV - SUPERSEDED, entered in error: corrected to benzodiazepine "
            "midazolam 2 mg IV by RN") in text
    assert "benzodiazepine midazolam 2 mg IV, correcting benzodiazepine midazolam 20 mg IV entered in error" in text
    assert "oxygen 2 L/min, route not recorded - SUPERSEDED, entered in error: withdrawn by RN" in text


def test_json_marks_the_intervention_in_error_and_lists_what_was_given(recorder: Recorder) -> None:
    wrong_at, right_at = _entered_in_error(recorder)
    written = io.StringIO()
    json_export.write(load(recorder.store, recorder.session.id), written)
    data = json.loads(written.getvalue())
    entered = [e for e in data["events"] if e["kind"] == "intervention"]
    assert entered[0]["superseded_by"] == {"t": iso_utc(right_at), "user": "RN",
                                           "value": "benzodiazepine midazolam 2 mg IV", "reason": "typed 20 for 2"}
    assert entered[2]["superseded_by"]["withdrawn"] is True
    assert [(i["t"], i["text"]) for i in data["treatment"]["interventions"]] == [
        (iso_utc(wrong_at), "benzodiazepine midazolam 2 mg IV")]


def test_hl7_and_fhir_carry_no_intervention_so_none_in_error(recorder: Recorder) -> None:
    """HL7 and FHIR carry the scores, questionnaires and dose, not interventions or notes: nothing there to mark
    (the day they carry them, this test asks for the mark)."""
    _entered_in_error(recorder)
    record = load(recorder.store, recorder.session.id)
    written = io.StringIO()
    hl7_export.write(record, written)
    segments = [str(s) for m in hl7.parse_file(written.getvalue())[0] for s in m]
    assert not [s for s in segments if "midazolam" in s or s.startswith("NTE")]
    written = io.StringIO()
    fhir_export.write(record, written)
    bundle = Bundle.model_validate(json.loads(written.getvalue()))
    kinds = {e.resource.__resource_type__ for e in bundle.entry}
    assert "Procedure" not in kinds and "midazolam" not in written.getvalue()
