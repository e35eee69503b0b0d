"""``record``'s progress line gives every value its age as soon as the device's link is lost (it printed them bare
for up to 10 s more, as if current, while the window greys them at once)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.cli import progress_line
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store


def test_values_are_aged_at_once_when_the_link_is_lost(db_path: Path) -> None:
    with Store(db_path) as store:
        recorder = Recorder.new_session(store, SimulatedSource(seed=3, speed=60.0), driver="simulated", port=None,
                                        plan=SessionPlan(1, 40, 30), nurse="RN")
        status = None
        while status is None or status.heart_rate is None or len(status.latest) < 2:
            update = recorder.step(timeout=0.0)
            status = update.status if update is not None else status
        recorder.close()
    assert status is not None and status.link.state == "connected"
    hr, spo2 = status.heart_rate, next(r for r in status.latest if r.parameter.value == "spo2")
    now = max(hr.t, spo2.t) + 2.0  # two seconds after the last value: current while the link holds
    live = replace(status, now=now)
    assert f"HR {hr.value:g} SpO2 {spo2.value:g} NIBP" in progress_line(live)
    lost = replace(live, link=replace(status.link, state="lost"))
    line = progress_line(lost)
    assert f"HR {hr.value:g} ({now - hr.t:.0f} s old) SpO2 {spo2.value:g} ({now - spo2.t:.0f} s old)" in line
    assert "| link lost" in line


def test_an_observation_past_its_minimum_says_since_when_not_a_time_left_below_zero(db_path: Path) -> None:
    from monitor.session import Phase

    with Store(db_path) as store:
        recorder = Recorder.new_session(store, SimulatedSource(seed=3, speed=60.0), driver="simulated", port=None,
                                        plan=SessionPlan(1, 40, 30), nurse="RN")
        update = None
        while update is None:
            update = recorder.step(timeout=0.0)
        recorder.close()
    recovery = replace(update.status, phase=Phase.RECOVERY)
    assert "[" + recovery.phase_label + " 12:30 left]" in progress_line(replace(recovery, recovery_remaining_s=750.0))
    line = progress_line(replace(recovery, recovery_remaining_s=-5_700.0))
    assert "watch done 1 h 35 min ago]" in line and "-" not in line.split("]")[0], line
