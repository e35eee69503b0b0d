"""A spell in which the recording itself did not run is on the timeline: what was read after it was measured
during it, and its times are those of the reading."""

from __future__ import annotations

import time
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.session import EventKind, SessionEvent
from monitor.store import Store


def _pauses(db_path: Path, turns: int, paused_after: int | None) -> list[SessionEvent]:
    """Run a recording for ``turns`` turns, not running for 3.6 s after turn ``paused_after``; its pauses."""
    with Store(db_path) as store:
        recorder = Recorder.new_session(store, SimulatedSource(seed=1, speed=1.0), driver="simulated", port=None,
                                        plan=parse_plan("baseline:5,infusion:10,recovery:5"), nurse="RN")
        done = [0]

        def until(rec: Recorder) -> bool:
            done[0] += 1
            if done[0] == paused_after:
                time.sleep(3.6)  # the process not scheduled between two turns
            return done[0] >= turns

        recorder.run(until=until)
        return [e for e in store.events(recorder.session.id)
                if e.kind is EventKind.TECHNICAL and e.detail.get("condition") == "recorder_not_running"]


def test_a_turn_that_comes_seconds_late_is_on_the_timeline(db_path: Path) -> None:
    [pause] = _pauses(db_path, 8, paused_after=5)
    seconds = float(str(pause.detail["detail"]).split("did not run for ")[1].split(" s")[0])
    assert 3.5 <= seconds < 5.0


def test_turns_in_time_put_nothing_there(db_path: Path) -> None:
    assert _pauses(db_path, 20, paused_after=None) == []
