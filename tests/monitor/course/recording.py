"""Sessions of a course recorded for real: the simulated monitor at full speed through the Recorder."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.protocols import Protocol
from monitor.recorder import Recorder
from monitor.session import Phase
from monitor.store import Store

MRN = "MRN-775120"
NURSE = "Ada Brennan"
DAY = 86_400.0


class Script:
    """Chair-side entries submitted once when the session reaches a phase (after a delay in it)."""

    def __init__(self, steps: list[tuple[Phase, float, str, dict[str, Any]]]) -> None:
        self.steps = steps
        self.done: set[int] = set()
        self.results: dict[int, Any] = {}

    def __call__(self, recorder: Recorder) -> None:
        s = recorder.session
        for index, (phase, after_s, name, args) in enumerate(self.steps):
            if index in self.done or s.phase is not phase:
                continue
            if s.now - s.phase_started_at[phase] < after_s:
                continue
            self.done.add(index)
            self.results[index] = recorder.submit(name, NURSE, **args)


def at_60_mg_per_h(*later: tuple[Phase, float, str, dict[str, Any]]) -> Script:
    """The checklist (80 kg) and a dose of 0.5 mg/kg over 40 min in the baseline (40 mg, 60 mg/h), then ``later``."""
    return Script([
        (Phase.BASELINE, 20, "checklist", {"quick": "f6 e t:partner c m:none w80"}),
        (Phase.BASELINE, 30, "plan_dose", {"weight_kg": 80, "dose_mg_per_kg": 0.5, "duration_min": 40}),
        *later,
    ])


def record(
    path: Path,
    protocol: Protocol,
    *,
    start: float,
    plan: SessionPlan,
    script: Script | None = None,
    scenario: str = "normal",
    seed: int = 5,
    stop_after_s: float | None = None,
    mrn: str = MRN,
) -> Recorder:
    """Record one session with autopilot phases; returns the finished recorder."""
    store = Store(path)
    try:
        source = SimulatedSource(
            scenario=scenario, seed=seed, speed=math.inf, start_time=start, plan=plan.phase_times()
        )
        patient_id = store.create_patient(mrn, "Tom Okafor", "1979-11-02")
        recorder = Recorder.new_session(
            store, source, driver="simulated", port=None, plan=plan, patient_id=patient_id, nurse=NURSE,
            autopilot=True, protocol=protocol, nibp_schedule=protocol.cuff, alarms=AlarmEngine(),
        )

        def until(r: Recorder) -> bool:
            if script is not None:
                script(r)
            return stop_after_s is not None and r.session.now - start >= stop_after_s

        recorder.run(until=until)
        return recorder
    finally:
        store.close()


def run_now(recorder: Recorder, name: str, user: str = NURSE, **args: Any) -> Any:
    """Submit a command, let the loop take one turn, and return its result (raising its refusal)."""
    future = recorder.submit(name, user, **args)
    recorder.step()
    return future.result(timeout=0)


def run_for(recorder: Recorder, minutes: float) -> None:
    """Let the loop run a number of session minutes (the simulated clock at full speed)."""
    end = recorder.session.now + minutes * 60.0
    while recorder.session.now < end:
        recorder.step()


def wait(future: Any) -> Any:
    """The result of a submitted command (already run by the loop)."""
    return future.result(timeout=0)


Check = Callable[[Recorder], None]


def recovered_by_hand(store: Store, source: Any, protocol: Protocol | None = None) -> Recorder:
    """A session of ``source`` the nurse moves by hand: infusing 41 min, 31 min into recovery, then a cuff."""
    from monitor.protocols import load_protocol

    protocol = protocol or load_protocol("ketamine-iv")
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(5, 40, 30),
                                    nurse=NURSE, protocol=protocol, nibp_schedule=protocol.cuff, alarms=AlarmEngine())
    run_now(recorder, "start_baseline")
    run_for(recorder, 6)
    run_now(recorder, "start_infusion", override_reason="checklist and dose on paper")
    run_for(recorder, 41)
    run_now(recorder, "start_recovery")
    run_for(recorder, 31)
    run_now(recorder, "nibp_now")
    run_for(recorder, 1)
    return recorder
