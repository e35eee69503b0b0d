"""Completing a session needs its discharge score, and a plan steps past nothing without saying so.

A session completes only once discharge is scored in recovery (modified Aldrete, PADSS, escort); a score
that fails, like a missing one, needs an override reason, which the timeline keeps. A planned session
(``--plan``) waits for every blocker with a patient's device; on the simulated monitor (a demonstration)
it steps past the entries a person makes and the protocol's minimum times, naming each on the timeline.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.discharge import NurseAssessment, assess_discharge
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.readiness import OverrideRequired
from monitor.recorder import DEMONSTRATION_REASON, Recorder
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Store
from tests.monitor.course.recording import NURSE, Script, record, recovered_by_hand, run_for, run_now

START = 1_720_000_000.0
IV = load_protocol("ketamine-iv")
MINUTE = 60.0
#: What the discharge form records for Aldrete 6/10, PADSS 6/10 and no escort.
FAILING: dict[str, Any] = {
    "aldrete": {"name": "Modified Aldrete", "total": 6, "maximum": 10, "threshold": 9, "passed": False, "items": []},
    "padss": {"name": "PADSS", "total": 6, "maximum": 10, "threshold": 9, "passed": False, "items": []},
    "escort_present": False, "escort_required": True, "no_driving_acknowledged": False, "passed": False,
    "reasons": ["Modified Aldrete 6/10, below 9", "no escort present"],
}
FIT = NurseAssessment(2, 2, 2, False, 2, 2, 2, 2, True, True)


def _by_hand(store: Store) -> Recorder:
    """A session the nurse moves, infusing 41 min and 31 min into recovery with a fresh cuff."""
    return recovered_by_hand(store, SimulatedSource(seed=5, speed=math.inf, start_time=START,
                                                    plan=SessionPlan(5, 40, 30).phase_times()))


class PatientDevice(SimulatedSource):
    """The simulated patient standing in for a real monitor: a plan treats it as a patient's device."""

    simulated = False




def _completed(recorder: Recorder) -> SessionEvent:
    return next(e for e in recorder.watch.events if e.kind is EventKind.SESSION_COMPLETED)


@pytest.mark.parametrize(("scored", "blocker", "reason"), [
    # The patient leaving unscored (e.g. against advice) is an override, with its reason kept.
    (None, ("discharge_not_scored", "discharge not scored (modified Aldrete, PADSS, escort)"),
     "patient left against advice"),
    (FAILING, ("discharge_criteria", "discharge criteria not met: Modified Aldrete 6/10, below 9; no escort present"),
     "escort waiting downstairs, physician saw the patient"),
], ids=["not scored", "criteria not met"])
def test_completion_needs_a_passing_discharge_score_or_a_reason(
    db_path: Path, scored: dict[str, Any] | None, blocker: tuple[str, str], reason: str
) -> None:
    with Store(db_path) as store:
        recorder = _by_hand(store)
        if scored is not None:
            run_now(recorder, "discharge_scored", **scored)
        with pytest.raises(OverrideRequired) as refused:
            run_now(recorder, "complete")
        assert [(b.code, b.text) for b in refused.value.check.blockers] == [blocker]
        assert recorder.session.phase is Phase.RECOVERY
        run_now(recorder, "complete", override_reason=reason)
        detail = _completed(recorder).detail
        assert detail["override_reason"] == reason and detail["overridden"] == [blocker[0]]


def test_a_passing_discharge_score_completes_without_a_reason(db_path: Path) -> None:
    with Store(db_path) as store:
        recorder = _by_hand(store)
        result = assess_discharge(list(recorder.status().latest), recorder.session.baseline, FIT)
        assert result.passed, result.reasons
        run_now(recorder, "discharge_scored", **result.as_dict())
        run_now(recorder, "complete")
        assert recorder.session.phase is Phase.COMPLETE
        assert "override_reason" not in _completed(recorder).detail


def test_a_discharge_score_from_before_recovery_does_not_count(db_path: Path) -> None:
    with Store(db_path) as store:
        source = SimulatedSource(seed=5, speed=math.inf, start_time=START)
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(5, 40, 30),
                                        nurse=NURSE, protocol=IV, alarms=AlarmEngine())
        run_now(recorder, "start_baseline")
        run_for(recorder, 6)
        passed = {**FAILING, "passed": True, "reasons": []}
        run_now(recorder, "discharge_scored", **passed)
        run_now(recorder, "start_infusion", override_reason="checklist and dose on paper")
        run_for(recorder, 41)
        run_now(recorder, "start_recovery")
        run_for(recorder, 31)
        check = recorder.status().step_check
        assert check is not None and "discharge_not_scored" in [b.code for b in check.blockers]


def test_a_demonstration_plan_names_every_blocker_it_steps_past(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    # No checklist, no dose, a 10-minute recovery against the protocol's 30, no discharge score.
    recorder = record(db, IV, start=START, plan=SessionPlan(5, 40, 10), stop_after_s=90 * MINUTE)
    s = recorder.session
    assert s.phase is Phase.COMPLETE
    assert s.phase_started_at[Phase.COMPLETE] - s.phase_started_at[Phase.RECOVERY] < 11 * MINUTE
    with Store(db) as store:
        events = store.events(s.id)
        audit = [a for a in store.audit_log(s.id) if a["action"] == "protocol_override"]
    started = next(e for e in events if e.kind is EventKind.INFUSION_STARTED).detail
    assert started["by"] == "plan" and started["override_reason"] == DEMONSTRATION_REASON
    assert started["overridden"] == ["checklist", "dose_plan"]
    assert started["protocol_override"][1] == "dose: not planned"
    completed = next(e for e in events if e.kind is EventKind.SESSION_COMPLETED).detail
    assert completed["override_reason"] == DEMONSTRATION_REASON
    assert set(completed["overridden"]) == {"discharge_not_scored", "recovery_too_short"}
    assert len(audit) == 1 and "dose: not planned" in audit[0]["detail"]


def _planned(store: Store, plan: SessionPlan) -> Recorder:
    """An IV ketamine session on a patient's device, stepped by ``plan``."""
    source = PatientDevice(seed=5, speed=math.inf, start_time=START, plan=plan.phase_times())
    return Recorder.new_session(store, source, driver="dinamap", port=None, plan=plan, nurse=NURSE, autopilot=True,
                                protocol=IV, nibp_schedule=IV.cuff, alarms=AlarmEngine())


def test_a_plan_with_a_patients_device_waits_for_the_checklist_the_dose_and_the_discharge(db_path: Path) -> None:
    with Store(db_path) as store:
        recorder = _planned(store, SessionPlan(5, 40, 10))
        run_for(recorder, 10)
        assert recorder.session.phase is Phase.BASELINE  # the plan's 5 min are over: it waits for the nurse
        run_now(recorder, "checklist", quick="f6 e t:partner c m- w80")
        run_now(recorder, "plan_dose", weight_kg=80, dose_mg_per_kg=0.5)
        run_for(recorder, 0.1)
        assert recorder.session.phase is Phase.INFUSION
        run_for(recorder, 41 + 15)
        s = recorder.session
        assert s.phase is Phase.RECOVERY  # past the plan's 10 min of recovery, short of the protocol's 30
        run_for(recorder, 20)
        assert s.phase is Phase.RECOVERY  # the protocol's minimum is over; discharge is not scored
        result = assess_discharge(list(recorder.status().latest), s.baseline, FIT)
        run_now(recorder, "discharge_scored", **result.as_dict())
        run_for(recorder, 6)
        assert s.phase is Phase.COMPLETE
        events = store.events(s.id)
        assert [e.kind for e in events].count(EventKind.CHECKLIST) == 1
        for kind in (EventKind.INFUSION_STARTED, EventKind.SESSION_COMPLETED):
            detail = next(e for e in events if e.kind is kind).detail
            assert detail["by"] == "plan" and "override_reason" not in detail, detail
        recovered = s.phase_started_at[Phase.COMPLETE] - s.phase_started_at[Phase.RECOVERY]
        assert recovered >= 30 * MINUTE


def test_a_plan_script_that_scores_discharge_completes_the_demonstration_without_an_override(tmp_path: Path) -> None:
    db = tmp_path / "m.db"

    class Discharge:
        done = False

        def __call__(self, recorder: Recorder) -> None:
            s = recorder.session
            remaining = s.recovery_remaining()
            if not self.done and s.phase is Phase.RECOVERY and remaining is not None and remaining <= 30:
                self.done = True
                result = assess_discharge(list(recorder.status().latest), s.baseline, FIT)
                recorder.submit("discharge_scored", NURSE, **result.as_dict())

    steps = Script([
        (Phase.BASELINE, 10, "checklist", {"quick": "f6 e t:partner c m- w80"}),
        (Phase.BASELINE, 20, "plan_dose", {"weight_kg": 80, "dose_mg_per_kg": 0.5}),
    ])
    discharge = Discharge()

    def both(recorder: Recorder) -> None:
        steps(recorder)
        discharge(recorder)

    recorder = record(db, IV, start=START, plan=SessionPlan(5, 40, 30), script=both,  # type: ignore[arg-type]
                      stop_after_s=90 * MINUTE)
    assert recorder.session.phase is Phase.COMPLETE
    with Store(db) as store:
        events = store.events(recorder.session.id)
    for kind in (EventKind.INFUSION_STARTED, EventKind.SESSION_COMPLETED):
        detail = next(e for e in events if e.kind is kind).detail
        assert "override_reason" not in detail, detail


def test_a_plan_with_a_patients_device_waits_for_the_protocols_minimum_infusion(db_path: Path) -> None:
    """The plan asks for 10 min of infusion, IV ketamine's minimum is 40: recovery waited for nothing (no override
    and no reason on the timeline); with a patient's device the plan waits, as for every other blocker."""
    with Store(db_path) as store:
        recorder = _planned(store, SessionPlan(5, 10, 30))
        run_for(recorder, 6)
        run_now(recorder, "start_infusion", override_reason="checklist and dose on paper")
        run_for(recorder, 12)
        assert recorder.session.phase is Phase.INFUSION
