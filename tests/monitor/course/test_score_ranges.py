"""The application layer records nursing scores only within their scales.

CLINICAL.md: MOAA/S 0-5, RASS +4 ... -5, CADSS-6 six items (1, 2, 6, 7, 15, 22), each 0-4. The recorder's `score`
command (what every front end sends) recorded any value: a MOAA/S of 7, a RASS of +6, a CADSS-6 of 30 or one whose
items do not add up to its total went onto the timeline, the course and the REMS form's sedation answer.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.monitor.course.recording import NURSE, run_now

BAD: list[dict[str, Any]] = [
    {"scale": "MOAA/S", "value": 7},
    {"scale": "MOAA/S", "value": -1},
    {"scale": "MOAA/S", "value": 4.5},
    {"scale": "RASS", "value": 6},
    {"scale": "RASS", "value": -6},
    {"scale": "CADSS-6", "value": 30},
    {"scale": "CADSS-6", "value": 3, "items": {"1": 5, "2": 0, "6": 0, "7": 0, "15": 0, "22": 0}},
    {"scale": "CADSS-6", "value": 9, "items": {"1": 1, "2": 0, "6": 0, "7": 0, "15": 0, "22": 0}},
    {"scale": "respiration", "value": "normal, 14/min", "depression": False},
    {"scale": "respiration", "value": 90, "depression": False},
    {"scale": "respiration", "value": 14},
    {"scale": "respiration", "value": 14, "depression": "no"},
]
GOOD: list[dict[str, Any]] = [
    {"scale": "MOAA/S", "value": 0},
    {"scale": "MOAA/S", "value": 5},
    {"scale": "RASS", "value": -5},
    {"scale": "RASS", "value": 4},
    {"scale": "CADSS-6", "value": 24},
    {"scale": "CADSS-6", "value": 2, "items": {"1": 1, "2": 1, "6": 0, "7": 0, "15": 0, "22": 0}},
    {"scale": "respiration", "value": 14, "depression": False},
    {"scale": "respiration", "value": 7, "depression": True},
]


def _recorder(store: Store) -> Recorder:
    source = SimulatedSource(seed=3, speed=math.inf, start_time=1_720_000_000.0)
    return Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(5, 40, 30),
                                nurse=NURSE, alarms=AlarmEngine())


@pytest.mark.parametrize("score", BAD, ids=[f"{s['scale']}={s['value']}" for s in BAD])
def test_a_score_outside_its_scale_is_refused(tmp_path: Path, score: dict[str, Any]) -> None:
    with Store(tmp_path / "s.db") as store:
        rec = _recorder(store)
        with pytest.raises(ValueError, match=r"CADSS-6|MOAA/S|RASS|respiration|respiratory depression"):
            run_now(rec, "score", **score)


@pytest.mark.parametrize("score", GOOD, ids=[f"{s['scale']}={s['value']}" for s in GOOD])
def test_a_score_within_its_scale_is_recorded(tmp_path: Path, score: dict[str, Any]) -> None:
    with Store(tmp_path / "s.db") as store:
        rec = _recorder(store)
        assert run_now(rec, "score", **score) is not None
