"""Sessions recorded for real (Recorder + simulated monitor at full speed) into temporary stores."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmState, Priority
from monitor.cli import main
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.session import Phase
from monitor.store import Store

MRN = "MRN-448812"
PATIENT_NAME = "Jane Quillfeather"
BIRTH_DATE = "1984-03-17"
DEVICE = "Simulated bedside monitor SN 4471XK0092"
NURSE = "Rosa Alvarez"
START = 1_718_000_000.0  # 2024-06-10T06:13:20Z


@dataclass(frozen=True)
class RecordedSession:
    """A finished session in a temporary database."""

    path: Path
    session_id: str


def record_session(
    path: Path,
    *,
    plan: str = "baseline:3,infusion:12,recovery:16",
    scenario: str = "normal",
    pleth: bool = False,
    seed: int = 3,
    with_patient: bool = True,
    during: Callable[[Recorder], None] | None = None,
    alarms: object = None,
) -> RecordedSession:
    """Record a whole session with autopilot phases, then add alarm rows as an alarm engine would."""
    store = Store(path)
    try:
        source = SimulatedSource(
            scenario=scenario, seed=seed, speed=math.inf, pleth=pleth, start_time=START, plan=parse_plan(plan)
        )
        source.device = DEVICE
        patient_id = store.create_patient(MRN, PATIENT_NAME, BIRTH_DATE) if with_patient else None
        recorder = Recorder.new_session(
            store,
            source,
            driver="simulated",
            port=None,
            plan=parse_plan(plan),
            patient_id=patient_id,
            nurse=NURSE,
            autopilot=True,
            **({} if alarms is None else {"alarms": alarms}),
        )

        def until(r: Recorder) -> bool:
            if during is not None:
                during(r)
            return False

        recorder.run(until=until)
        assert recorder.session.phase is Phase.COMPLETE
        return RecordedSession(path, recorder.session.id)
    finally:
        store.close()


def add_alarms(path: Path, session_id: str, alarms: list[AlarmRecord]) -> None:
    """Store alarms in the alarm log."""
    with Store(path) as store:
        store.write_batch(session_id, alarms=alarms)


def alarm_record(
    alarm_id: str,
    condition: str,
    parameter: str | None,
    priority: str,
    started_at: float,
    ended_at: float | None,
    limit: float | None,
    peak: float | None,
    message: str,
    acknowledged_at: float | None = None,
    acknowledged_by: str | None = None,
) -> AlarmRecord:
    """One alarm with every field the alarm log keeps."""
    return AlarmRecord(
        id=alarm_id,
        condition=condition,
        parameter=parameter,
        priority=Priority.parse(priority),
        kind=AlarmKind.PHYSIOLOGICAL if parameter else AlarmKind.TECHNICAL,
        message=message,
        started_at=started_at,
        ended_at=ended_at,
        limit=limit,
        peak_value=peak,
        acknowledged_at=acknowledged_at,
        acknowledged_by=acknowledged_by,
        state=AlarmState.ENDED if ended_at is not None else AlarmState.ACTIVE,
    )


class NotesAndScores:
    """Submits a note, a score and a discharge record once the session reaches certain phases."""

    def __init__(self) -> None:
        self.done: set[str] = set()

    def __call__(self, recorder: Recorder) -> None:
        phase = recorder.session.phase
        if phase is Phase.INFUSION and "note" not in self.done:
            self.done.add("note")
            recorder.submit("note", NURSE, text="Patient calm, reports mild dissociation")
            recorder.submit("score", NURSE, scale="MOAA/S", value=5)
        if phase is Phase.RECOVERY and "recovery" not in self.done:
            self.done.add("recovery")
            recorder.submit("quick_event", NURSE, event="nausea", text="Mild nausea, resolved without treatment")


def export_bytes(session: RecordedSession, out: Path, fmt: str, *extra: str) -> bytes:
    """Export ``session`` in format ``fmt`` to ``out`` with the command line, which must succeed; the file's bytes."""
    command = ["export", session.session_id, "--db", str(session.path), "--format", fmt, "--out", str(out), *extra]
    assert main(command) == 0
    return out.read_bytes()
