"""A recorded course shared by the course and export tests: four sessions of one patient."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.discharge import NurseAssessment, assess_discharge
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.session import Phase
from tests.monitor.course.recording import DAY, NURSE, Script, record
from tests.monitor.course.test_recorded_protocols import ANSWERS

FIRST = 1_722_000_000.0
#: The start of the course's esketamine session, ten days after the first.
NASAL_DAY = FIRST + 10 * 86_400.0
IV = load_protocol("ketamine-iv")
NASAL = load_protocol("esketamine-nasal")


class Discharge:
    """Scores discharge two minutes before the end of recovery, as a nurse would."""

    def __init__(self) -> None:
        self.done = False

    def __call__(self, recorder: Recorder) -> None:
        s = recorder.session
        remaining = s.recovery_remaining()
        if not self.done and s.phase is Phase.RECOVERY and remaining is not None and remaining <= 120:
            self.done = True
            nurse = NurseAssessment(2, 2, 2, False, 2, 2, 2, 2, True, True)
            result = assess_discharge(list(recorder.status().latest), s.baseline, nurse)
            recorder.submit("discharge_scored", NURSE, **result.as_dict())


class Both:
    """Two scripts in one ``until``."""

    def __init__(self, *parts: Any) -> None:
        self.parts = parts

    def __call__(self, recorder: Recorder) -> None:
        for part in self.parts:
            part(recorder)


def _iv_script(phq: str, gad: str, cadss: int, *, nausea: bool) -> Script:
    steps = [
        (Phase.BASELINE, 20, "checklist", {"quick": "f6 e t:partner c m:amlodipine w81"}),
        (Phase.BASELINE, 30, "plan_dose", {"weight_kg": 81, "dose_mg_per_kg": 0.5, "duration_min": 12}),
        (Phase.BASELINE, 40, "outcome_score", {"scale": "PHQ-9", "answers": phq}),
        (Phase.BASELINE, 50, "outcome_score", {"scale": "GAD-7", "answers": gad}),
        (Phase.INFUSION, 120, "score", {"scale": "MOAA/S", "value": 4}),
        (Phase.INFUSION, 240, "rate_change", {"rate_mg_per_h": 101.25, "reason": "dissociation"}),
        (Phase.INFUSION, 300, "score", {"scale": "MOAA/S", "value": 3}),
        (Phase.RECOVERY, 30, "score", {"scale": "CADSS-6", "value": cadss}),
        (Phase.RECOVERY, 60, "score", {"scale": "CADSS-6", "value": max(0, cadss - 2)}),
    ]
    if nausea:
        steps += [
            (Phase.RECOVERY, 90, "quick_event", {"what": "nausea_vomiting", "text": "nausea"}),
            (Phase.RECOVERY, 100, "intervention", {"kind": "antiemetic", "drug": "ondansetron", "dose": 4,
                                                   "route": "IV"}),
            (Phase.RECOVERY, 110, "intervention", {"kind": "oxygen", "dose": 2}),
        ]
    return Script(steps)


@pytest.fixture(scope="package")
def course_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four sessions of one patient: three IV infusions (one hypertensive, one desaturating) and one esketamine."""
    db = tmp_path_factory.mktemp("course") / "monitor.db"
    # The hypertension comes about 30 min into the infusion, the desaturation at 20 min.
    for index, (scenario, plan, phq, gad, cadss, nausea) in enumerate([
        ("normal", SessionPlan(3, 12, 12), "233222211", "2222211", 6, False),
        ("hypertension", SessionPlan(3, 36, 10), "122111110", "1111110", 4, True),
        ("desaturation", SessionPlan(3, 24, 10), "011101000", "1010000", 1, False),
    ]):
        record(db, IV, start=FIRST + index * 3 * DAY, plan=plan, scenario=scenario, seed=11 + index,
               script=Both(_iv_script(phq, gad, cadss, nausea=nausea), Discharge()))  # type: ignore[arg-type]
    nasal = Script([
        (Phase.BASELINE, 20, "checklist", {"quick": "f3 e t:partner c m:amlodipine p:na w81"}),
        (Phase.BASELINE, 30, "plan_dose", {"total_mg": 84, "lot": "LOT-20", "weight_kg": 81}),
        (Phase.BASELINE, 40, "outcome_score", {"scale": "PHQ-9", "answers": "001000000"}),
        (Phase.RECOVERY, 33 * 60, "score", {"scale": "MOAA/S", "value": 5}),
        (Phase.RECOVERY, 33 * 60 + 5, "score", {"scale": "CADSS-6", "value": 0}),
        (Phase.RECOVERY, 33 * 60 + 10, "score", {"scale": "respiration", "value": 16, "depression": False}),
        (Phase.RECOVERY, 34 * 60, "rems_answers", {"answers": {**ANSWERS, "ready_to_leave_at": NASAL_DAY + 40 * 60}}),
    ])
    record(db, NASAL, start=NASAL_DAY, plan=SessionPlan(5, 5, 116), script=nasal, seed=31)
    return db




@pytest.fixture
def course_reader(course_db: Path, signed_in_as: Callable[..., str]) -> list[str]:
    """``--user`` of a physician of :func:`course_db`, its secret where the command reads it: the database has
    accounts (a test signs in), and reading a patient's record out then needs a sign-in."""
    return ["--user", signed_in_as(course_db, "dr.k")]
