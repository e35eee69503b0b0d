"""Resuming a session that was replayed faster than real time continues its own clock.

Found by the kill -9 fault test: a simulated session at 120x is minutes ahead of the wall clock;
resumed, its new readings were stamped with the wall clock, earlier than the stored ones.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.cli import main
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import abandon


def _unfinished_session_ahead_of_the_wall_clock(db_path: Path) -> tuple[str, float]:
    store = Store(db_path)
    try:
        # Starts now, runs unpaced for ten session-minutes: the stored data ends in the future.
        import time

        source = SimulatedSource(speed=math.inf, start_time=time.time())
        recorder = Recorder.new_session(store, source, driver="simulated", port=None,
                                        plan=parse_plan("baseline:5,infusion:40,recovery:30"), autopilot=True)
        for _ in range(600):
            recorder.step()
        recorder.flush()
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        store.db.execute("UPDATE sessions SET owner_pid = ? WHERE id = ?", [int(dead.stdout), recorder.session.id])
        # What the kernel does when the owner dies: its session lock is released.
        return abandon(recorder, store)
    finally:
        store.close()


def _resume_for_half_a_second(db_path: Path, session_id: str) -> None:
    """``record --resume`` of the session at 60x for half a second."""
    out = io.StringIO()
    code = main(["record", "--db", str(db_path), "--resume", session_id[:8], "--speed", "60", "--duration", "0.5",
                 "--plan", "baseline:5,infusion:40,recovery:30", "--quiet"], out=out)
    assert code == 0, out.getvalue()


def test_resumed_readings_follow_the_stored_ones(db_path: Path) -> None:
    session_id, last = _unfinished_session_ahead_of_the_wall_clock(db_path)
    _resume_for_half_a_second(db_path, session_id)
    with Store(db_path, readonly=True) as store:
        after = [r for r in store.readings(session_id) if r.t > last]
        before = store.reading_count(session_id) - len(after)
        events = store.events(session_id)
    assert before > 0 and after, "the resumed recording stored nothing after the earlier data"
    resumed = [e for e in events if e.kind.value == "session_resumed"]
    assert resumed and resumed[0].t >= last - 1.0
    assert resumed[0].detail["gap_s"] >= 0


def test_a_resumed_simulated_session_stores_no_second_value_at_the_last_stored_instant(db_path: Path) -> None:
    """Resumed ahead of the wall clock, the simulated monitor stamped its first values at the very instant of the
    last stored ones: two heart rates, two SpO2s at one moment, with different values, in the record and the CSV."""
    session_id, _last = _unfinished_session_ahead_of_the_wall_clock(db_path)
    _resume_for_half_a_second(db_path, session_id)
    with Store(db_path, readonly=True) as store:
        moments = [(r.parameter, r.t) for r in store.readings(session_id)]
        [resumed] = [e for e in store.events(session_id) if e.kind.value == "session_resumed"]
    assert len(moments) > 600
    assert len(set(moments)) == len(moments), "a parameter has two values at one instant"
    assert resumed.detail["gap_s"] > 0
