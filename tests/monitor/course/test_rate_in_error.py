"""A rate entered in error (45 mg/h typed for 54) is corrected as any entry in error is: the correction needs a
reason, the wrong entry stays on the timeline marked superseded (who, when, why) in every place that lists it, and
the delivered dose runs the right rate from the wrong entry's own time. Rate corrections stored before a reason
was asked for still load and export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

import hl7
import pytest
from pypdf import PdfReader

from drivers.core.readings import iso_utc
from monitor import chair
from monitor.course import load_course_by_mrn
from monitor.dose import dose_record
from monitor.entered_in_error import CorrectionError, standing_entries, superseded
from monitor.exports import csv_tables, fhir_export, hl7_export, json_export, pdf_export
from monitor.exports.data import SessionRecord, load
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.session import EventKind, Phase, Session, SessionEvent
from tests.monitor.course import test_dose_entries
from tests.monitor.course.test_dose_entries import _run, _until, _wait

#: The same nurse at the same recorder as the dose entries (a fixture).
recorder = test_dose_entries.recorder

MRN = "MRN-RATE-ERR"
#: 0.5 mg/kg over 40 min for 80 kg: 60 mg/h from the start.
PLAN = {"drug": "ketamine", "route": "IV", "total_mg": 40.0, "duration_min": 40, "rate_mg_per_h": 60.0,
        "weight_kg": 80.0, "dose_mg_per_kg": 0.5}


def _entry(t: float, kind: EventKind, detail: Mapping[str, Any], user: str = "RN") -> SessionEvent:
    return SessionEvent(t, kind, Phase.INFUSION, user, dict(detail))


def _rate(t: float, rate: float, **correction: Any) -> SessionEvent:
    return _entry(t, EventKind.RATE_CHANGED, {"rate_mg_per_h": rate, **correction})


def _infusion(*rates: SessionEvent) -> list[SessionEvent]:
    """60 mg/h planned, started at 0, the ``rates`` entered, stopped at 3600."""
    return [_entry(-10.0, EventKind.DOSE_PLANNED, PLAN), _entry(0.0, EventKind.INFUSION_STARTED, {}), *rates,
            _entry(3600.0, EventKind.INFUSION_STOPPED, {})]


def _new(corrects_at: float, wrong: float, reason: str) -> dict[str, Any]:
    """What a rate correction stores now."""
    return {"corrects_at": corrects_at, "corrected_value": f"{wrong:g} mg/h", "correction_reason": reason,
            "corrected_rate_mg_per_h": wrong}


def _old(corrects_at: float, wrong: float) -> dict[str, Any]:
    """What a rate correction stored before it needed a reason."""
    return {"corrects_at": corrects_at, "corrected_rate_mg_per_h": wrong, "reason": ""}


# the rates entered; the lines the timeline shows for them (the wrong ones marked by superseded(), not here); which
# entries are superseded; the rates that stand (time, mg/h); the delivered dose in mg.
CASES = [
    ("a rate changed, none in error", [_rate(1200.0, 45.0)], ["rate 45 mg/h"], set(), [(1200.0, 45.0)],
     60 * 1200 / 3600 + 45 * 2400 / 3600),
    ("45 typed for 54, corrected with a reason",
     [_rate(1200.0, 45.0), _rate(1320.0, 54.0, **_new(1200.0, 45.0, "typed 45 for 54"))],
     ["rate 45 mg/h", "rate 54 mg/h, correcting 45 mg/h entered in error: typed 45 for 54"], {2},
     [(1200.0, 54.0)], 60 * 1200 / 3600 + 54 * 2400 / 3600),
    ("the correction itself wrong: corrected again, both marked",
     [_rate(1200.0, 45.0), _rate(1320.0, 54.0, **_new(1200.0, 45.0, "typed 45 for 54")),
      _rate(1380.0, 50.0, **_new(1200.0, 54.0, "the order was 50"))],
     ["rate 45 mg/h", "rate 54 mg/h, correcting 45 mg/h entered in error: typed 45 for 54",
      "rate 50 mg/h, correcting 54 mg/h entered in error: the order was 50"], {2, 3},
     [(1200.0, 50.0)], 60 * 1200 / 3600 + 50 * 2400 / 3600),
    ("an old record: corrected without a reason",
     [_rate(1200.0, 45.0), _rate(1320.0, 54.0, **_old(1200.0, 45.0))],
     ["rate 45 mg/h", "rate 54 mg/h, correcting 45 mg/h entered in error: no reason recorded"], {2},
     [(1200.0, 54.0)], 60 * 1200 / 3600 + 54 * 2400 / 3600),
]


@pytest.mark.parametrize(("rates", "lines", "marked", "standing", "delivered"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_rate_in_error_is_read_as_corrected_from_its_own_time(
    rates: list[SessionEvent], lines: list[str], marked: set[int], standing: list[tuple[float, float]],
    delivered: float,
) -> None:
    events = _infusion(*rates)
    assert [chair.entry_text(e) for e in rates] == lines
    assert set(superseded(events)) == marked
    assert [(e.t, e.detail["rate_mg_per_h"]) for e in standing_entries(events)
            if e.kind is EventKind.RATE_CHANGED] == standing
    record = dose_record(events)
    assert [(c.t, c.rate_mg_per_h) for c in record.rate_changes] == standing
    assert record.delivered_mg == pytest.approx(delivered, abs=0.05)


def _infusing_session() -> tuple[Session, list[SessionEvent]]:
    session = Session("s1", 0.0)
    session.phase = Phase.INFUSION  # the infusion runs (how it got there is not the question)
    return session, [_entry(5.0, EventKind.DOSE_PLANNED, PLAN), _entry(10.0, EventKind.INFUSION_STARTED, {})]


@pytest.mark.parametrize(("args", "refused"), [
    ({"corrects_last": True}, "a correction of the last rate needs a reason"),
    ({"corrects_last": True, "correction_reason": "   "}, "a correction of the last rate needs a reason"),
])
def test_the_chair_refuses_a_rate_correction_without_a_reason(args: dict[str, Any], refused: str) -> None:
    session, events = _infusing_session()
    protocol = load_protocol("ketamine-iv")
    events.append(_rate(20.0, 45.0))
    with pytest.raises(CorrectionError, match=refused):
        chair.entry("rate_change", {"rate_mg_per_h": 54.0, **args}, protocol, session, events)
    taken = chair.entry("rate_change", {"rate_mg_per_h": 54.0, "corrects_last": True,
                                        "correction_reason": "typed 45 for 54"}, protocol, session, events)
    assert dict(taken.detail) == {"rate_mg_per_h": 54.0, **_new(20.0, 45.0, "typed 45 for 54")}


# -- at the recorder --------------------------------------------------------------------------------------------


def _audited(rec: Recorder, action: str) -> list[dict[str, Any]]:
    rec.flush()
    return [json.loads(a["detail"]) for a in rec.store.audit_log(rec.session.id) if a["action"] == action]


def _infusing(rec: Recorder) -> None:
    _run(rec, "identify_patient", mrn=MRN)
    _until(rec, Phase.BASELINE, 5)
    _run(rec, "checklist", quick="f6 e t:partner c m- w80")
    _run(rec, "plan_dose", weight_kg=80, dose_mg_per_kg=0.5, duration_min=40)  # 60 mg/h
    _until(rec, Phase.INFUSION, 60)


def _rate_in_error(rec: Recorder) -> tuple[float, float]:
    """45 mg/h typed for 54, corrected two minutes later with a reason; the infusion then runs to its end."""
    _infusing(rec)
    _run(rec, "rate_change", rate_mg_per_h=45.0)
    wrong_at = rec.session.now
    _wait(rec, 120)
    _run(rec, "rate_change", rate_mg_per_h=54.0, corrects_last=True, correction_reason="typed 45 for 54")
    right_at = rec.session.now
    _until(rec, Phase.RECOVERY, 5)
    rec.flush()
    return wrong_at, right_at


def test_the_recorder_refuses_a_rate_correction_without_a_reason_and_audits_the_one_with_it(
    recorder: Recorder,
) -> None:
    _infusing(recorder)
    with pytest.raises(CorrectionError, match="no rate was entered in this session: there is none to correct"):
        _run(recorder, "rate_change", rate_mg_per_h=54.0, corrects_last=True, correction_reason="typo")
    _run(recorder, "rate_change", rate_mg_per_h=45.0)
    wrong_at = recorder.session.now
    _wait(recorder, 120)
    with pytest.raises(CorrectionError, match="needs a reason"):
        _run(recorder, "rate_change", rate_mg_per_h=54.0, corrects_last=True)
    _run(recorder, "rate_change", rate_mg_per_h=54.0, corrects_last=True, correction_reason="typed 45 for 54")
    _until(recorder, Phase.RECOVERY, 5)
    recorder.flush()

    events = recorder.store.events(recorder.session.id)
    rates = [e for e in events if e.kind is EventKind.RATE_CHANGED]
    assert [e.detail for e in rates] == [{"rate_mg_per_h": 45.0},
                                         {"rate_mg_per_h": 54.0, **_new(wrong_at, 45.0, "typed 45 for 54")}]
    assert set(superseded(events)) == {events.index(rates[0])}
    assert [a["reason"] for a in _audited(recorder, "rate_change_refused")] == [
        "no rate was entered in this session: there is none to correct",
        "a correction of the last rate needs a reason"]
    assert _audited(recorder, "rate_change") == [{"rate_mg_per_h": 45.0},
                                                 {"rate_mg_per_h": 54.0, **_new(wrong_at, 45.0, "typed 45 for 54")}]
    # The right rate from the wrong entry's own time, in the session's figure and the course's.
    record = dose_record(events)
    assert record.started_at is not None and record.stopped_at is not None
    truth = (60.0 * (wrong_at - record.started_at) + 54.0 * (record.stopped_at - wrong_at)) / 3600
    assert record.delivered_mg == pytest.approx(truth, abs=0.05)
    [row] = load_course_by_mrn(recorder.store, MRN).rows
    assert row.delivered_mg == record.delivered_mg


# -- the exports --------------------------------------------------------------------------------------------------


def _csv_rate_texts(record: SessionRecord) -> list[tuple[str, str, str]]:
    written = io.StringIO()
    csv_tables.write_events(record, written)
    return [(row[0], row[4], row[5]) for row in csv.reader(io.StringIO(written.getvalue()))
            if row[3:4] == ["rate_changed"]]


def _pdf_text(record: SessionRecord) -> str:
    pdf = io.BytesIO()
    pdf_export.write(record, pdf)
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.getvalue())).pages).split())


def test_csv_events_mark_the_rate_in_error(recorder: Recorder) -> None:
    wrong_at, right_at = _rate_in_error(recorder)
    assert _csv_rate_texts(load(recorder.store, recorder.session.id)) == [
        (iso_utc(wrong_at), "RN", f"rate 45 mg/h (SUPERSEDED, entered in error: corrected to 54 mg/h by RN at "
                                  f"{iso_utc(right_at)}: typed 45 for 54)"),
        (iso_utc(right_at), "RN", "rate 54 mg/h, correcting 45 mg/h entered in error: typed 45 for 54")]


def test_json_gives_the_rate_in_error_its_superseded_by(recorder: Recorder) -> None:
    wrong_at, right_at = _rate_in_error(recorder)
    written = io.StringIO()
    json_export.write(load(recorder.store, recorder.session.id), written)
    data = json.loads(written.getvalue())
    wrong, right = [e for e in data["events"] if e["kind"] == "rate_changed"]
    assert wrong["superseded_by"] == {"t": iso_utc(right_at), "user": "RN", "value": "54 mg/h",
                                      "reason": "typed 45 for 54"}
    assert "superseded_by" not in right
    assert data["treatment"]["dose"]["rate_changes"] == [{"t": iso_utc(wrong_at), "rate_mg_per_h": 54.0}]


def test_the_pdf_lists_every_rate_entered_the_wrong_one_marked(recorder: Recorder) -> None:
    _rate_in_error(recorder)
    text = _pdf_text(load(recorder.store, recorder.session.id))
    assert ("rate 45 mg/h (entered by RN) - SUPERSEDED, entered in error: corrected to 54 mg/h by RN at ") in text
    assert ": typed 45 for 54" in text
    assert "rate 54 mg/h, correcting 45 mg/h entered in error: typed 45 for 54 (entered by RN)" in text


def test_hl7_and_fhir_carry_only_the_rate_that_stands(recorder: Recorder) -> None:
    """HL7 carries the dose planned and delivered, no rates; FHIR notes each rate that ran (the standing ones), so
    the wrong 45 mg/h reaches neither and nothing there needs the mark."""
    wrong_at, _right_at = _rate_in_error(recorder)
    record = load(recorder.store, recorder.session.id)
    written = io.StringIO()
    hl7_export.write(record, written)
    segments = [str(s) for m in hl7.parse_file(written.getvalue())[0] for s in m]
    assert not [s for s in segments if "mg/h" in s]
    written = io.StringIO()
    fhir_export.write(record, written)
    fhir = written.getvalue()
    assert f"rate 54 mg/h from {iso_utc(wrong_at)}" in fhir and "45 mg/h" not in fhir


def test_an_old_rate_correction_without_a_reason_still_loads_and_exports(recorder: Recorder) -> None:
    """Stored as the program stored it before a reason was asked for: no reason, no ``corrected_value``."""
    _infusing(recorder)
    _run(recorder, "rate_change", rate_mg_per_h=45.0)
    wrong_at = recorder.session.now
    _wait(recorder, 120)
    recorder.session.record(EventKind.RATE_CHANGED, None, "RN", rate_mg_per_h=54.0, **_old(wrong_at, 45.0))
    right_at = recorder.session.now
    _until(recorder, Phase.RECOVERY, 5)
    recorder.flush()
    record = load(recorder.store, recorder.session.id)
    assert _csv_rate_texts(record)[0][2] == (f"rate 45 mg/h (SUPERSEDED, entered in error: corrected to 54 mg/h by RN "
                                             f"at {iso_utc(right_at)}: no reason recorded)")
    written = io.StringIO()
    json_export.write(record, written)
    wrong = next(e for e in json.loads(written.getvalue())["events"] if e["kind"] == "rate_changed")
    assert wrong["superseded_by"] == {"t": iso_utc(right_at), "user": "RN", "value": "54 mg/h", "reason": None}
    assert "rate 54 mg/h, correcting 45 mg/h entered in error: no reason recorded" in _pdf_text(record)
    dose = dose_record(record.events)
    assert dose.stopped_at is not None and dose.started_at is not None
    truth = (60.0 * (wrong_at - dose.started_at) + 54.0 * (dose.stopped_at - wrong_at)) / 3600
    assert dose.delivered_mg == pytest.approx(truth, abs=0.05)
