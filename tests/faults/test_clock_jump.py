"""The wall clock set an hour ahead, then two hours back, during a real recording from a pty device.

The process's wall clock is faked (``clock_jump_child.py`` replaces ``time.time`` before the
monitor is imported, as libfaketime would). Session time follows the monotonic clock anchored
at start: the stored readings are in order and span the real 8 s, the session lasts 8 s, and the
two steps are on the timeline as ``clock_changed`` events with their sizes.
"""

from __future__ import annotations

from pathlib import Path

from monitor.store import Store
from tests.faults.helpers import run_child


def test_wall_clock_steps_are_recorded_and_never_followed(db_path: Path) -> None:
    child = run_child(Path(__file__).with_name("clock_jump_child.py"), str(db_path))
    with Store(db_path, readonly=True) as store:
        [summary] = store.sessions()
        readings = list(store.readings(summary.id))
        events = store.events(summary.id)
        row = store.session_row(summary.id)
    times = [r.t for r in readings]
    assert len(times) > 10 and times == sorted(times)
    assert times[0] >= summary.started_at and times[-1] - summary.started_at < 12
    assert 6 < row["ended_at"] - row["started_at"] < 12  # the real 8 s, not an hour more or less
    steps = [e.detail["step_s"] for e in events if e.kind.value == "clock_changed"]
    assert len(steps) == 2, steps
    assert abs(steps[0] - 3600) < 5 and abs(steps[1] + 7200) < 5
    assert [e.t for e in events] == sorted(e.t for e in events)
    assert all(e.t >= summary.started_at for e in events)
    assert "event clock_changed" in child.stdout
