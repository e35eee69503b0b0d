"""Another process holds the database's write lock for 30 s while a desaturation happens.

The recording runs at 60x with the alarm engine (the desaturation comes at session minute ~25,
inside the locked spell). While the lock is held the screen still gets an update at least every
half second, the storage alarm is raised, and the SpO2 alarm starts within its 15 s condition delay
of the first low value (session time); once the lock goes, every reading is written.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.pty_recording import hold_write_lock
from drivers.core.readings import Parameter
from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.faults.helpers import counts, integrity

HOLD_S = 30.0


def test_alarms_and_the_screen_do_not_wait_for_a_held_write_lock(db_path: Path) -> None:
    store = Store(db_path)
    source = SimulatedSource(scenario="desaturation", seed=4, speed=60.0, start_time=1_790_000_000.0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None,
                                    plan=parse_plan("baseline:5,infusion:40,recovery:30"), autopilot=True,
                                    nurse="RN", alarms=AlarmEngine())
    lock = threading.Lock()
    updates: list[float] = []
    produced = [0]
    failing = [0]
    spo2: list[tuple[float, float]] = []
    started: dict[str, float] = {}

    def listen(update: Any) -> None:
        with lock:
            updates.append(time.monotonic())
            produced[0] += sum(1 for r in update.readings if r.parameter is not Parameter.PLETH)
            spo2.extend((r.t, r.value) for r in update.readings if r.parameter is Parameter.SPO2 and r.value)
            failing[0] += not update.status.storage_ok
            for change in update.alarm_changes:
                started.setdefault(change.condition, change.started_at)

    recorder.add_listener(listen)
    recorder.start()
    time.sleep(1.0)
    holder = hold_write_lock(db_path, HOLD_S)
    try:
        locked_at = time.monotonic()
        holder.wait(HOLD_S + 30)
        released_at = time.monotonic()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    time.sleep(3.0)
    recorder.stop()
    session_id = recorder.session.id
    store.close()

    with lock:
        during = [t for t in updates if locked_at <= t <= released_at]
    gaps = [b - a for a, b in zip([locked_at, *during], [*during, released_at], strict=True)]
    assert max(gaps) < 0.5, f"the screen waited {max(gaps):.2f} s"
    assert failing[0] > 0 and "storage_failed" in started
    onset = next(t for t, value in spo2 if value < 90)
    low = min(started.get(c, math.inf) for c in ("spo2_low", "spo2_low_severe"))
    assert low - onset <= 15.0 + 2.0, f"SpO2 alarm {low - onset:.1f} s after the first low value"
    assert integrity(db_path) == "ok"
    assert counts(db_path, session_id)[0] == produced[0]
    print(f"write lock held {released_at - locked_at:.1f} s: longest wait between screen updates "
          f"{max(gaps) * 1000:.0f} ms, SpO2 alarm {low - onset:.1f} s after the first low value (delay 15 s)")
