"""Sessions recorded for real (Recorder + simulated monitor at full speed + alarm engine) for the
session browser and review window tests, and a session left unfinished by a process that died."""

from __future__ import annotations

import math
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.discharge import NurseAssessment, assess_discharge
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.session import Phase
from monitor.store import Store

NURSE = "Rosa Alvarez"
PATIENT_NAME = "Jane Quillfeather"
DAY = 86_400.0
START = 1_718_000_000.0  # 2024-06-10T06:13:20Z


class ChartedByNurse:
    """What a nurse does during a recorded session: a note and a MOAA/S score in the infusion, an
    acknowledgment of the alarms then active, a quick event in recovery and the discharge scoring
    two minutes before the end of the recovery watch."""

    def __init__(self, acknowledge_after_min: float = 32.0) -> None:
        self.done: set[str] = set()
        self.acknowledge_after_s = acknowledge_after_min * 60

    def __call__(self, recorder: Recorder) -> bool:
        s = recorder.session
        if s.phase is Phase.INFUSION:
            if "note" not in self.done:
                self.done.add("note")
                recorder.submit("note", NURSE, text="Patient calm, reports mild dissociation")
                recorder.submit("score", NURSE, scale="MOAA/S", value=5)
            if "ack" not in self.done and s.infusion_elapsed() >= self.acknowledge_after_s:
                self.done.add("ack")
                recorder.submit("acknowledge", NURSE, role="nurse")
        if s.phase is Phase.RECOVERY:
            if "nausea" not in self.done:
                self.done.add("nausea")
                recorder.submit("quick_event", NURSE, what="nausea_vomiting", text="Mild nausea, settled")
            remaining = s.recovery_remaining()
            if "discharge" not in self.done and remaining is not None and remaining <= 120:
                self.done.add("discharge")
                latest = list(recorder.status().latest)
                nurse = NurseAssessment(2, 2, 2, False, 2, 2, 2, 2, True, True)
                result = assess_discharge(latest, s.baseline, nurse)
                recorder.submit("discharge_scored", NURSE, **result.as_dict())
        return False


def record(
    path: Path,
    *,
    mrn: str | None,
    start: float = START,
    scenario: str = "normal",
    plan: str = "baseline:2,infusion:12,recovery:6",
    pleth: bool = False,
    charted: bool = False,
    seed: int = 3,
    stop_after_infusion_min: float | None = None,
) -> str:
    """Record one whole session (autopilot phases) into ``path``; returns its id.

    ``stop_after_infusion_min`` ends the recording that far into the infusion (as a crash would).
    """
    store = Store(path)
    try:
        source = SimulatedSource(scenario=scenario, seed=seed, speed=math.inf, pleth=pleth, start_time=start,
                                 plan=parse_plan(plan))
        patient_id = store.create_patient(mrn, PATIENT_NAME if mrn else None, "1984-03-17") if mrn else None
        recorder = Recorder.new_session(
            store, source, driver="simulated", port=None, plan=parse_plan(plan), patient_id=patient_id,
            nurse=NURSE, autopilot=True, alarms=AlarmEngine(),
        )
        charting = ChartedByNurse() if charted else None

        def until(r: Recorder) -> bool:
            if charting is not None:
                charting(r)
            stop = stop_after_infusion_min
            return stop is not None and r.session.phase is Phase.INFUSION and r.session.infusion_elapsed() >= stop * 60

        recorder.run(until=until)
        assert recorder.session.phase is (Phase.COMPLETE if stop_after_infusion_min is None else Phase.INFUSION)
        return recorder.session.id
    finally:
        store.close()
