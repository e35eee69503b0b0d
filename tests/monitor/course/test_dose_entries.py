"""A dose typed in a hurry: a slipped decimal point or digit is caught, and a rate entered in error is corrected
in place, the wrong entry kept on the timeline and the delivered dose the one the pump gave."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor import chair
from monitor.course import load_course_by_mrn
from monitor.dose import DoseNeedsConfirmation, DoseRecord, dose_record
from monitor.entered_in_error import CorrectionError
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.session import EventKind, Phase
from monitor.store import Store

T0 = 1_790_000_000.0


@pytest.fixture
def recorder(store: Store) -> Iterator[Recorder]:
    plan = SessionPlan(5, 40, 30)
    source = SimulatedSource(seed=2, speed=math.inf, start_time=T0, plan=plan.phase_times())
    rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=plan, autopilot=True,
                               nurse="RN", protocol=load_protocol("ketamine-iv"))
    yield rec
    rec.run(until=lambda r: True)


def _run(rec: Recorder, name: str, **args: Any) -> Any:
    future = rec.submit(name, "RN", **args)
    rec.step()
    return future.result(timeout=0)


def _dose(rec: Recorder) -> DoseRecord:
    rec.flush()
    return dose_record(rec.store.events(rec.session.id))


def _until(rec: Recorder, phase: Phase, after_s: float = 0.0) -> None:
    while not (rec.session.phase is phase and rec.session.now - rec.session.phase_started_at[phase] >= after_s):
        rec.step()


def test_a_dose_plan_weight_the_checklist_refuses_is_not_dosed_on_without_a_question(recorder: Recorder) -> None:
    """w82.5 in the checklist; 8.25 typed in the dose form (one digit slipped): 4.1 mg instead of 41 mg.

    The checklist refuses 8.25 kg (outside 25-300 kg); the dose plan, which turns the weight into milligrams,
    takes it and takes a weight ten times the checklist's, without a word.
    """
    _until(recorder, Phase.BASELINE, 5)
    _run(recorder, "checklist", quick="f6 e t:partner c m- w82.5")
    with pytest.raises(ValueError, match="outside"):
        _run(recorder, "checklist", quick="w8.25")  # the checklist knows no adult weighs 8.25 kg
    try:
        _run(recorder, "plan_dose", weight_kg=8.25, dose_mg_per_kg=0.5, duration_min=40)
    except ValueError:
        return
    planned = _dose(recorder).plan
    pytest.fail(f"a dose planned on {planned.weight_kg} kg ({planned.total_mg} mg) against the checklist's 82.5 kg "
                "was recorded without a question")


def test_a_dose_plan_on_a_weight_other_than_the_checklists_asks_why(recorder: Recorder) -> None:
    """w82.5 in the checklist; 28.5 typed in the dose form (digits swapped): a third of the dose, in range."""
    _until(recorder, Phase.BASELINE, 5)
    _run(recorder, "checklist", quick="f6 e t:partner c m- w82.5")
    with pytest.raises(DoseNeedsConfirmation, match=r"checklist says 82\.5 kg"):
        _run(recorder, "plan_dose", weight_kg=28.5, dose_mg_per_kg=0.5, duration_min=40)
    _run(recorder, "plan_dose", weight_kg=80.0, dose_mg_per_kg=0.5, duration_min=40)  # weighed again today: close
    _run(recorder, "plan_dose", weight_kg=28.5, dose_mg_per_kg=0.5, duration_min=40, confirm_reason="weighed now")
    assert _dose(recorder).plan.weight_kg == 28.5


def test_a_rate_ten_times_the_plan_needs_the_confirmation_a_plan_outside_the_range_needs(recorder: Recorder) -> None:
    """0.5 mg/kg over 40 min for 80 kg is 60 mg/h. '600' for '60.0' (the point missed) runs 5 mg/kg over the
    40 minutes, five times the protocol's 1.0 mg/kg maximum; as a plan it would need a reason."""
    _until(recorder, Phase.BASELINE, 5)
    _run(recorder, "checklist", quick="f6 e t:partner c m- w80")
    _run(recorder, "plan_dose", weight_kg=80, dose_mg_per_kg=0.5, duration_min=40)
    with pytest.raises(DoseNeedsConfirmation):  # the same amount as a plan is refused without a reason
        _run(recorder, "plan_dose", weight_kg=80, dose_mg_per_kg=5.0, duration_min=40)
    _until(recorder, Phase.INFUSION, 60)
    try:
        _run(recorder, "rate_change", rate_mg_per_h=600.0)
    except DoseNeedsConfirmation:
        _run(recorder, "rate_change", rate_mg_per_h=600.0, confirm_reason="ordered by Dr. Lee")  # a reason: recorded
        return
    pytest.fail("a rate of 600 mg/h (5 mg/kg over the planned 40 min; protocol maximum 1.0 mg/kg) was recorded "
                "without a confirmation")


def _wait(rec: Recorder, seconds: float) -> None:
    end = rec.session.now + seconds
    while rec.session.now < end:
        rec.step()


def test_a_rate_entered_in_error_is_replaced_from_its_own_time(recorder: Recorder) -> None:
    _run(recorder, "identify_patient", mrn="MRN-RATE-1")
    _until(recorder, Phase.BASELINE, 5)
    _run(recorder, "checklist", quick="f6 e t:partner c m- w80")
    _run(recorder, "plan_dose", weight_kg=80, dose_mg_per_kg=0.5, duration_min=40)  # 60 mg/h
    _until(recorder, Phase.INFUSION, 60)
    with pytest.raises(CorrectionError, match="none to correct"):
        _run(recorder, "rate_change", rate_mg_per_h=60.0, corrects_last=True, correction_reason="typo")
    _run(recorder, "rate_change", rate_mg_per_h=45.0)  # typed for 54
    wrong_at = recorder.session.now
    _wait(recorder, 120)
    _run(recorder, "rate_change", rate_mg_per_h=54.0, corrects_last=True, correction_reason="typed 45 for 54")
    _wait(recorder, 60)
    _run(recorder, "rate_change", rate_mg_per_h=50.0, corrects_last=True,
         correction_reason="the order was 50")  # the correction itself was wrong
    _until(recorder, Phase.RECOVERY, 5)
    recorder.flush()
    events = recorder.store.events(recorder.session.id)
    record = dose_record(events)
    assert record.started_at is not None and record.stopped_at is not None
    # 60 mg/h from the start to the wrong entry, then 50 mg/h (the last correction) to the stop.
    truth = (60.0 * (wrong_at - record.started_at) + 50.0 * (record.stopped_at - wrong_at)) / 3600
    assert record.delivered_mg == pytest.approx(truth, abs=0.05)
    assert [(c.t, c.rate_mg_per_h) for c in record.rate_changes] == [(wrong_at, 50.0)]
    # Every entry stays on the timeline, saying what it corrected.
    rates = [e for e in events if e.kind is EventKind.RATE_CHANGED]
    assert [chair.entry_text(e) for e in rates] == [
        "rate 45 mg/h",
        "rate 54 mg/h, correcting 45 mg/h entered in error: typed 45 for 54",
        "rate 50 mg/h, correcting 54 mg/h entered in error: the order was 50",
    ]
    assert {e.detail.get("corrects_at") for e in rates[1:]} == {wrong_at}
    # The patient's course counts the same dose.
    [row] = load_course_by_mrn(recorder.store, "MRN-RATE-1").rows
    assert row.delivered_mg == pytest.approx(record.delivered_mg, abs=0.05)


NASAL = load_protocol("esketamine-nasal")


def _planned_without_lot() -> list[Any]:
    from monitor.session import SessionEvent

    plan = {"drug": "esketamine", "route": "intranasal", "total_mg": 56.0, "weight_kg": 81.0}
    return [SessionEvent(T0 + 30, EventKind.DOSE_PLANNED, Phase.BASELINE, "RN", plan)]


@pytest.mark.parametrize(("args", "taken"), [
    ({"total_mg": 56, "weight_kg": 81, "lot": "LOT-20"}, True),  # the lot alone, added after the first spray
    ({"total_mg": 84, "weight_kg": 81, "lot": "LOT-20"}, False),  # another dose: it would rewrite what was given
    ({"total_mg": 56, "weight_kg": 81}, False),  # nothing added
])
def test_a_lot_number_missing_from_the_dose_plan_can_be_added_after_dosing(args: dict[str, Any], taken: bool) -> None:
    """An esketamine session whose lot was not typed before the first spray could never be discharged: the REMS
    form asks for it, no reason overrides that, and the plan could not be entered again after dosing started."""
    from monitor.session import Session

    session = Session("s", T0, SessionPlan(5, 40, 30))
    session.phase = Phase.INFUSION  # dosing (the sprays) has started
    if taken:
        found = chair.entry("plan_dose", args, NASAL, session, _planned_without_lot())
        assert found.detail["lot"] == "LOT-20" and found.detail["lot_added"] is True
        assert found.detail["total_mg"] == 56.0
    else:
        with pytest.raises(chair.SessionRuleError, match="only a lot number missing from it can be added now"):
            chair.entry("plan_dose", args, NASAL, session, _planned_without_lot())
