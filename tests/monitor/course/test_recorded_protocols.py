"""Protocols at work in real recordings: checklist refusal, timed checks, dose events and the REMS gate."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor import rems, review
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import Priority
from monitor.chair import anchor_time
from monitor.cli import progress_line
from monitor.dose import DoseNeedsConfirmation
from monitor.plan import SessionPlan
from monitor.protocols import Anchor, load_protocol
from monitor.readiness import OverrideRequired
from monitor.recorder import Recorder
from monitor.session import EventKind, Phase
from monitor.store import Store
from tests.monitor.course.recording import NURSE, Script, at_60_mg_per_h, record

START = 1_720_000_000.0
NASAL = load_protocol("esketamine-nasal")
IV = load_protocol("ketamine-iv")


def test_infusion_start_is_refused_without_the_checklist_and_an_override_is_audited(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    script = Script([
        (Phase.BASELINE, 60, "start_infusion", {}),
        (Phase.BASELINE, 70, "checklist", {"quick": "f6 e c"}),
        (Phase.BASELINE, 80, "start_infusion", {}),
        (Phase.BASELINE, 90, "plan_dose", {"weight_kg": 80, "dose_mg_per_kg": 1.5}),
        (Phase.BASELINE, 100, "start_infusion", {"override_reason": "weight from last week's chart"}),
    ])
    recorder = record(db, IV, start=START, plan=SessionPlan(30, 10, 10), script=script, stop_after_s=8 * 60)
    first = script.results[0].exception()
    assert isinstance(first, OverrideRequired)
    texts = {b.code: b.text for b in first.check.blockers}
    assert texts["checklist"] == ("fasting: not recorded; escort: not recorded; consent: not recorded; "
                                  "medications: not recorded; weight: not recorded")
    assert texts["dose_plan"] == "dose: not planned"
    second = script.results[2].exception()
    assert isinstance(second, OverrideRequired)
    texts = {b.code: b.text for b in second.check.blockers}
    assert texts["checklist"] == "medications: not recorded; weight: not recorded"
    assert "dose: not planned" in str(second) and "override reason" in str(second)
    assert isinstance(script.results[3].exception(), DoseNeedsConfirmation)
    assert script.results[4].exception() is None
    assert recorder.session.phase is Phase.INFUSION
    with Store(db) as store:
        events = store.events(recorder.session.id)
        started = next(e for e in events if e.kind is EventKind.INFUSION_STARTED)
        assert started.detail["override_reason"] == "weight from last week's chart"
        assert started.detail["protocol_override"] == ["medications: not recorded; weight: not recorded",
                                                       "dose: not planned"]
        assert {"checklist", "dose_plan"} <= set(started.detail["overridden"])
        actions = [(a["action"], json.loads(a["detail"])) for a in store.audit_log(recorder.session.id)]
        refused = [d for a, d in actions if a == "start_infusion_refused"]
        assert len(refused) == 2 and "escort: not recorded" in refused[0]["reason"]
        override = next(d for a, d in actions if a == "protocol_override")
        assert override["missing"] == ["medications: not recorded; weight: not recorded", "dose: not planned"]
        assert any(a == "plan_dose_refused" for a, _ in actions)
        checklist = next(e for e in events if e.kind is EventKind.CHECKLIST)
        assert checklist.detail["fasting_hours"] == 6 and checklist.detail["escort_present"] is True


def _nasal_script(*, answers: dict[str, object] | None) -> Script:
    steps = [
        (Phase.BASELINE, 30, "checklist", {"quick": "f3 e t:sister c m:lorazepam,sertraline p:na w64"}),
        (Phase.BASELINE, 40, "plan_dose", {"total_mg": 56, "lot": "LOT-8841", "weight_kg": 64}),
        (Phase.BASELINE, 50, "outcome_score", {"scale": "PHQ-9", "answers": "122112101"}),
        (Phase.RECOVERY, 33 * 60, "score", {"scale": "MOAA/S", "value": 4}),
        (Phase.RECOVERY, 33 * 60 + 5, "score", {"scale": "CADSS-6", "value": 3}),
        (Phase.RECOVERY, 33 * 60 + 10, "score", {"scale": "respiration", "value": 14, "depression": False}),
        (Phase.RECOVERY, 40 * 60, "score", {"scale": "MOAA/S", "value": 5}),
    ]
    if answers is not None:
        steps.append((Phase.RECOVERY, 41 * 60, "rems_answers", {"answers": answers}))
    return Script(steps)


ANSWERS = {
    "site": "Harbour Clinic, Room 2",
    # Between the first spray (5 min) and the answers (41 min into the observation): a time the session saw.
    "ready_to_leave_at": START + 40 * 60,
    "vitals_acceptable_before_dosing": "yes",
    "vitals_acceptable_before_discharge": "y",
    "respiratory_depression": "no",
}


def test_rems_session_cannot_complete_with_a_field_missing(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    plan = SessionPlan(5, 5, 116)
    # Everything but the answers only staff can give: the autopilot's plan runs out, yet the
    # session stays in observation until the recording is stopped.
    script = _nasal_script(answers=None)
    # A nurse trying to complete with a reason: the form is the one thing no reason overrides.
    script.steps.append((Phase.RECOVERY, 50 * 60, "complete", {"override_reason": "patient's ride is here"}))
    recorder = record(db, NASAL, start=START, plan=plan, script=script, stop_after_s=140 * 60)
    refused = script.results[len(script.steps) - 1].exception()
    assert isinstance(refused, OverrideRequired)
    assert "REMS Patient Monitoring Form is incomplete: Treatment site" in str(refused)
    codes = {b.code for b in refused.check.blockers}
    assert {"rems_form", "observation_too_short"} <= codes
    assert recorder.session.phase is Phase.RECOVERY
    assert recorder.end_status == "closed"
    with Store(db) as store:
        row = store.session_row(recorder.session.id)
        assert row["protocol"] == "esketamine-nasal"
        events = store.events(recorder.session.id)
        form = rems.build_form(NASAL, row, store.patient_row(row["patient_id"]), events,
                               list(store.readings(row["id"])), recorder.session.now)
    assert form.missing() == [rems.LABELS[k] for k in (
        "site", "ready_to_leave_at", "vitals_acceptable_before_dosing", "vitals_acceptable_before_discharge")]
    # The respiratory check recorded at the chair (Breathing, E) answers the form's question.
    assert form.value("respiratory_depression") is False
    assert next(f.origin for f in form.fields if f.key == "respiratory_depression") == "session"
    refusal = rems.completion_refusal(form)
    assert refusal is not None
    assert refusal.startswith("the REMS Patient Monitoring Form is incomplete: Treatment site; Time the patient")
    # What the session knows is filled from it.
    assert form.value("dose_mg") == 56 and form.value("lot") == "LOT-8841"
    assert form.value("benzodiazepines") is True and form.value("maois") is False
    assert form.value("sedation") is True and form.value("dissociation") is True
    assert form.value("monitoring_provider") == NURSE
    for key in ("bp_before_dosing", "bp_40_min", "bp_before_discharge"):
        assert isinstance(form.value(key), str) and "/" in form.value(key), key


def test_rems_session_completes_once_the_form_is_full(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    plan = SessionPlan(5, 5, 116)
    script = _nasal_script(answers=ANSWERS)
    lines: dict[Phase, str] = {}  # what ``record`` prints, once in each phase

    def watch(recorder: Recorder) -> None:
        script(recorder)
        if recorder.session.phase not in lines:
            lines[recorder.session.phase] = progress_line(recorder.status())

    recorder = record(db, NASAL, start=START, plan=plan, script=watch, stop_after_s=140 * 60)  # type: ignore[arg-type]
    assert recorder.session.phase is Phase.COMPLETE
    # The terminal names the phases as the protocol does.
    assert {phase: line.split("]")[0] for phase, line in lines.items()} == {
        Phase.BASELINE: "[pre-dose", Phase.INFUSION: "[dosing 00:00/5min",
        Phase.RECOVERY: "[observation 1 h 56 min left"}
    with Store(db) as store:
        row = store.session_row(recorder.session.id)
        events = store.events(row["id"])
        readings = list(store.readings(row["id"]))
        form = rems.build_form(NASAL, row, store.patient_row(row["patient_id"]), events, readings,
                               recorder.session.now)
        assert form.complete, form.missing()
        first_spray = next(e.t for e in events if e.kind is EventKind.INFUSION_STARTED)
        completed = next(e.t for e in events if e.kind is EventKind.SESSION_COMPLETED)
        assert form.value("first_spray_at") == first_spray
        assert form.value("monitoring_minutes") == round((completed - first_spray) / 60, 1)
        assert form.value("monitoring_minutes") >= 120  # the protocol's minimum observation from the first spray
        assert form.value("site") == ANSWERS["site"]
        assert form.value("vitals_acceptable_before_dosing") is True
        # Not yet submitted: listed; once marked, not.
        assert [p.session_id for p in rems.pending_forms(store, ["esketamine-nasal"])] == [row["id"]]
        rems.mark_submitted(store, form, user=NURSE, reference="REMS-55")
        assert rems.pending_forms(store, ["esketamine-nasal"]) == []
        with pytest.raises(rems.RemsAnswerError, match="already marked"):
            rems.mark_submitted(store, form, user=NURSE)
        # The timed checks were all kept, so no "missed" technical event.
        assert not [e for e in events if e.kind is EventKind.TECHNICAL and e.detail.get("condition") ==
                    "check_missed"]


def test_respiratory_depression_at_the_last_check_holds_discharge_until_a_check_finds_it_resolved(
        tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    script = _nasal_script(answers={**ANSWERS, "respiratory_depression": "no"})
    script.steps[5] = (Phase.RECOVERY, 33 * 60 + 10, "score", {"scale": "respiration", "value": 8, "depression": True})
    script.steps += [
        (Phase.RECOVERY, 100 * 60, "score", {"scale": "CADSS-6", "value": 0}),
        (Phase.RECOVERY, 105 * 60, "complete", {}),
        (Phase.RECOVERY, 108 * 60, "score", {"scale": "respiration", "value": 14, "depression": False}),
    ]
    # The plan's end (126 min) is discharged as the nurse would, once nothing holds it.
    recorder = record(db, NASAL, start=START, plan=SessionPlan(5, 5, 116), script=script, stop_after_s=140 * 60)
    refused = script.results[len(script.steps) - 2].exception()
    assert isinstance(refused, OverrideRequired)
    assert [b.text for b in refused.check.blockers if b.code == "score_not_met"] == [
        "respiratory depression at the last respiratory check: check again once it has resolved"]
    assert recorder.session.phase is Phase.COMPLETE
    with Store(db) as store:
        row = store.session_row(recorder.session.id)
        events = store.events(row["id"])
        form = rems.build_form(NASAL, row, store.patient_row(row["patient_id"]), events,
                               list(store.readings(row["id"])), recorder.session.now)
    # Seen at one check is seen, whatever the staff's answer said: the record wins.
    assert form.value("respiratory_depression") is True
    texts = [review.addendum_text(e) for e in events if e.kind is EventKind.SCORE
             and e.detail["scale"] == "respiration"]
    assert texts == ["respiration 8/min, respiratory depression seen", "respiration 14/min, no respiratory depression"]


def test_a_missed_timed_check_is_a_technical_alarm(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    script = Script([
        (Phase.BASELINE, 30, "checklist", {"quick": "f3 e t:sister c m- p:na"}),
        (Phase.BASELINE, 40, "plan_dose", {"total_mg": 84, "lot": "L2"}),
        # The sedation score comes late (window closes at 55 min after the first spray).
        (Phase.RECOVERY, 55 * 60, "score", {"scale": "MOAA/S", "value": 5}),
    ])
    recorder = record(db, NASAL, start=START, plan=SessionPlan(3, 5, 60), script=script, stop_after_s=75 * 60)
    with Store(db) as store:
        events = store.events(recorder.session.id)
        alarms = store.alarms(recorder.session.id)
    missed = [e for e in events if e.kind is EventKind.TECHNICAL and e.detail.get("condition") == "check_missed"]
    assert sorted(e.detail["check"] for e in missed) == ["dissociation_40_min", "respiration_40_min",
                                                         "sedation_40_min"]
    start = next(e.t for e in events if e.kind is EventKind.INFUSION_STARTED)
    assert all(e.t >= start + 55 * 60 for e in missed)
    check_alarms = {a.message: a for a in alarms if a.condition == "check_missed"}
    assert set(check_alarms) == {"Missed: Sedation check at about 40 minutes",
                                 "Missed: Dissociation check at about 40 minutes",
                                 "Missed: Respiratory check at about 40 minutes"}
    assert all(a.kind == "technical" for a in check_alarms.values())
    # The late sedation score ends its alarm; the others stay until the session closes.
    sedation = check_alarms["Missed: Sedation check at about 40 minutes"]
    assert sedation.ended_at is not None and sedation.ended_at < start + 62 * 60


def test_a_phase_past_the_protocols_maximum_is_a_technical_alarm(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    script = Script([
        (Phase.BASELINE, 30, "checklist", {"quick": "f3 e t:sister c m- p:na"}),
        (Phase.BASELINE, 40, "plan_dose", {"total_mg": 56, "lot": "L9"}),
    ])
    # Dosing planned (wrongly) at 25 min: the protocol allows at most 20.
    recorder = record(db, NASAL, start=START, plan=SessionPlan(5, 25, 30), script=script, stop_after_s=40 * 60)
    with Store(db) as store:
        events = store.events(recorder.session.id)
        alarms = [a for a in store.alarms(recorder.session.id) if a.condition == "phase_too_long"]
    started = next(e.t for e in events if e.kind is EventKind.INFUSION_STARTED)
    recovery = next(e.t for e in events if e.kind is EventKind.RECOVERY_STARTED)
    assert len(alarms) == 1 and alarms[0].message == "Dosing past the protocol's 20 min maximum"
    assert started + 20 * 60 < alarms[0].started_at <= started + 20 * 60 + 2
    assert alarms[0].ended_at == pytest.approx(recovery, abs=1.0)


def test_a_recovery_left_open_for_hours_is_a_low_reminder_that_never_holds_up_discharge(tmp_path: Path) -> None:
    """A chair left recording overnight said nothing for 14 h of recovery. Past the protocol's longest recovery (IV
    ketamine: 4 h) a low-priority reminder says the session is still open; unanswered for an hour it stays low (a
    medium one would escalate to high and hold up the very discharge it asks for)."""
    db = tmp_path / "m.db"
    script = at_60_mg_per_h((Phase.RECOVERY, 60, "score", {"scale": "CADSS-6", "value": 0}))
    seen: list[list[Any]] = []

    def watch(recorder: Recorder) -> None:
        script(recorder)
        s = recorder.session
        if s.phase is Phase.RECOVERY and s.now - s.phase_started_at[Phase.RECOVERY] >= 300 * 60 and not seen:
            assert recorder.alarms is not None
            seen.append([a for a in recorder.alarms.snapshot(s.now).active if a.condition == "phase_too_long"])

    recorder = record(db, IV, start=START, plan=SessionPlan(5, 40, 600), script=watch,  # type: ignore[arg-type]
                      stop_after_s=6 * 3600)
    [[alarm]] = seen
    assert alarm.message == ("Recovery open for 240 min, the protocol's longest: discharge, transfer or close the "
                             "session")
    assert alarm.priority is Priority.LOW and alarm.escalations == ()  # low: never a blocker of discharge
    with Store(db) as store:
        events = store.events(recorder.session.id)
        [stored] = [a for a in store.alarms(recorder.session.id) if a.condition == "phase_too_long"]
    recovery = next(e.t for e in events if e.kind is EventKind.RECOVERY_STARTED)
    assert recovery + 240 * 60 < stored.started_at <= recovery + 240 * 60 + 2


def test_a_session_discharged_after_the_recovery_reminder_completes_and_ends_its_reminder(tmp_path: Path) -> None:
    """A recovery open past the protocol's longest (IV: 4 h), then discharged: the turn that completed the session
    also tried to put the reminder's end on the completed timeline, was refused, and so was every turn after it:
    the recording never finished (a 24-hour benchmark session hung there)."""
    db = tmp_path / "m.db"
    plan = SessionPlan(5, 40, 250)
    with Store(db) as store:
        source = SimulatedSource(scenario="normal", seed=5, speed=math.inf, start_time=START, plan=plan.phase_times())
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=plan, nurse=NURSE,
                                        autopilot=True, protocol=IV, nibp_schedule=IV.cuff, alarms=AlarmEngine())
        script = at_60_mg_per_h((Phase.RECOVERY, 60, "score", {"scale": "CADSS-6", "value": 0}))
        while recorder.session.phase is not Phase.COMPLETE and recorder.session.now < START + 400 * 60:
            script(recorder)
            recorder.step()  # raised SessionRuleError in the turn that completed the session
        recorder.step()
        recorder.close()
        session_id = recorder.session.id
        [reminder] = [a for a in store.alarms(session_id) if a.condition == "phase_too_long"]
        events = store.events(session_id)
        status = store.session_row(session_id)["status"]
    completed = next(e.t for e in events if e.kind is EventKind.SESSION_COMPLETED)
    assert recorder.session.phase is Phase.COMPLETE and status == "complete"
    assert reminder.ended_at == pytest.approx(completed, abs=1.0)
    assert not [e for e in events if e.detail.get("condition") in ("recorder_error", "phase_too_long_ended")]


def test_a_rems_form_is_not_marked_submitted_while_its_session_records(tmp_path: Path) -> None:
    from monitor.app.errors import AppError
    from monitor.app.exports import mark_rems_submitted
    from tests.monitor.writing import simulated_recorder

    with Store(tmp_path / "m.db") as store:
        recorder = simulated_recorder(store, nurse=NURSE, protocol=NASAL)
        recorder.step()
        recorder.flush()
        with pytest.raises(AppError, match="is still recording: its form is submitted once it has ended"):
            mark_rems_submitted(store, recorder.session.id, user=NURSE, incomplete_reason="too early")
        recorder.close()
        assert rems.submission(store, recorder.session.id) is None


def test_a_discharge_before_the_rems_minimum_is_noted_on_the_form(tmp_path: Path) -> None:
    """The 2-hour minimum is a blocker a reason overrides at the chair (recorded); the form then said only
    "62.1" minutes, and nothing on it told a reviewer the REMS minimum was not kept."""
    from pypdf import PdfReader

    from monitor.course_export import write_rems_worksheet

    db = tmp_path / "m.db"
    script = _nasal_script(answers=ANSWERS)
    script.steps.append((Phase.RECOVERY, 55 * 60, "complete", {"override_reason": "patient's ride must leave"}))
    recorder = record(db, NASAL, start=START, plan=SessionPlan(5, 5, 116), script=script, stop_after_s=140 * 60)
    assert recorder.session.phase is Phase.COMPLETE
    with Store(db) as store:
        row = store.session_row(recorder.session.id)
        form = rems.build_form(NASAL, row, store.patient_row(row["patient_id"]), store.events(row["id"]),
                               list(store.readings(row["id"])), recorder.session.now)
    assert form.value("monitoring_minutes") < 120
    assert form.notes == (f"Discharged {form.value('monitoring_minutes'):g} min after the first spray, before the "
                          "120-minute minimum observation (reason given: patient's ride must leave)",)
    assert form.as_dict()["notes"] == list(form.notes)
    sheet = tmp_path / "sheet.pdf"
    with open(sheet, "wb") as stream:
        write_rems_worksheet(form, stream)
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(sheet).pages).split())
    assert "before the 120-minute minimum observation (reason given: patient's ride must leave)" in text


def test_the_40_minute_checks_are_due_from_their_windows_opening(tmp_path: Path) -> None:
    """Esketamine's respiratory check at about 40 minutes: the nurse heard of it only from the "Missed" alarm at the
    window's close. From its opening (30 min) it is due, as a score the protocol asks is, until it is done."""
    script = Script([
        (Phase.BASELINE, 30, "checklist", {"quick": "f3 e t:sister c m- p:na"}),
        (Phase.BASELINE, 40, "plan_dose", {"total_mg": 56, "lot": "L9"}),
        (Phase.RECOVERY, 27 * 60, "score", {"scale": "MOAA/S", "value": 5}),
        (Phase.RECOVERY, 27 * 60 + 30, "score", {"scale": "respiration", "value": 15, "depression": False}),
    ])
    seen: dict[int, tuple[str, ...]] = {}

    def watch(recorder: Recorder) -> None:
        script(recorder)
        s = recorder.session
        first = anchor_time(list(recorder.watch.events), Anchor.INFUSION_START)
        if first is not None:
            minute = int((s.now - first) // 60)
            seen.setdefault(minute, recorder.status().scores_due)

    record(tmp_path / "m.db", NASAL, start=START, plan=SessionPlan(5, 5, 116), script=watch,  # type: ignore[arg-type]
           stop_after_s=50 * 60)
    # MOAA/S and CADSS-6 are due all through the observation anyway (before discharge); the respiratory check has
    # no score of its own before discharge: due only from its window's opening until it is done (at 32.5 min).
    assert "respiration" not in seen[29]
    assert "respiration" in seen[31] and "respiration" in seen[32]  # looked at again every 15 s
    assert "respiration" not in seen[33] and "CADSS-6" in seen[33]
