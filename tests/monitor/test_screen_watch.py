"""The recorder watches the window's beats: a window that stops while recording goes on is a high-priority
technical alarm (for the alarm log and the nurse station, which a frozen window cannot reach)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import AlarmKind, Priority
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.replication.live import live_document, parse_tile
from monitor.store import Store

CONDITION = "screen_not_responding"


def _screen_alarms(recorder: Recorder) -> list[object]:
    snapshot = recorder.alarms.snapshot(recorder.session.now) if recorder.alarms is not None else None
    return [a for a in (snapshot.active if snapshot is not None else ()) if a.condition == CONDITION]


# the window's last beat and the recorder's last turn, seconds ago before a turn; whether the turn alarms
TABLE = [
    ("no window watched", None, 0.0, False),
    ("beating", 0.2, 0.05, False),
    ("silent 2.9 s", 2.9, 0.05, False),
    ("silent 3.5 s while the recorder ran", 3.5, 0.05, True),
    ("silent 10 s, the recorder stood still as long", 10.0, 10.0, False),  # the whole program was stopped
    ("silent 10 s, the recorder stood still 2 s of it", 10.0, 2.0, False),  # counted again from now
]


@pytest.mark.parametrize(("case", "beat_ago", "turn_ago", "alarms"), TABLE, ids=[row[0] for row in TABLE])
def test_the_turn_judges_the_window(db_path: Path, case: str, beat_ago: float | None, turn_ago: float,
                                    alarms: bool) -> None:
    with Store(db_path) as store:
        recorder = Recorder.new_session(store, SimulatedSource(seed=2, speed=math.inf, start_time=1_790_000_000.0),
                                        driver="simulated", port=None, plan=SessionPlan(1, 40, 30), nurse="RN",
                                        alarms=AlarmEngine())
        recorder.step()
        now = time.monotonic()
        recorder.screen_beat = None if beat_ago is None else now - beat_ago
        recorder.last_beat = now - turn_ago
        update = recorder.step()
        found = _screen_alarms(recorder)
        assert bool(found) is alarms
        # What the chair sends the nurse station carries it as any other alarm.
        tile = parse_tile(live_document(update))
        assert [(a.priority, a.kind) for a in tile.alarms if a.condition == CONDITION] == (
            [(3, "technical")] if alarms else [])
        if alarms:
            [alarm] = found
            assert alarm.priority is Priority.HIGH and alarm.kind is AlarmKind.TECHNICAL
            assert alarm.message == "Screen not responding at the chair: the values it shows are not current"
        recorder.close()


def test_the_alarm_ends_when_the_window_runs_again_and_stays_in_the_log(db_path: Path) -> None:
    with Store(db_path) as store:
        recorder = Recorder.new_session(store, SimulatedSource(seed=2, speed=math.inf, start_time=1_790_000_000.0),
                                        driver="simulated", port=None, plan=SessionPlan(1, 40, 30), nurse="RN",
                                        alarms=AlarmEngine())
        recorder.screen_alive()
        recorder.step()
        # The window runs again; then, silent again, it is closed on purpose: the alarm ends with the watch.
        for ends in (recorder.screen_alive, recorder.screen_closed):
            recorder.screen_beat = time.monotonic() - 5.0
            recorder.step()
            assert _screen_alarms(recorder)
            ends()
            recorder.step()
            assert not _screen_alarms(recorder)
        recorder.close()
        logged = [a for a in store.alarms(recorder.session.id) if a.condition == CONDITION]
    assert len(logged) == 2 and all(a.ended_at is not None and a.priority is Priority.HIGH for a in logged)
