"""Esketamine nasal spray: the screen's observation countdown runs to the REMS two hours from the first spray."""

from __future__ import annotations

import math

from drivers.simulated.driver import SimulatedSource
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.session import Phase
from monitor.store import Store

T0 = 1_790_000_000.0
NASAL = load_protocol("esketamine-nasal")


def _run(rec: Recorder, name: str, **args: object) -> object:
    future = rec.submit(name, "RN", **args)
    rec.step()
    return future.result(timeout=0)


def _step_to(rec: Recorder, t: float) -> None:
    while rec.session.now < t:
        rec.step()


def test_the_observation_countdown_does_not_end_before_two_hours_from_the_first_spray(store: Store) -> None:
    """56 mg is two devices 5 minutes apart: the nurse stops dosing after 5 min and starts the observation.
    The header's countdown is the plan's 110 min from then: it says the watch is done at 115 min."""
    source = SimulatedSource(seed=5, speed=math.inf, start_time=T0)
    rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=NASAL.plan(), nurse="RN",
                               protocol=NASAL)
    try:
        _run(rec, "start_baseline")
        _run(rec, "checklist", quick="f3 e t:partner c m- p:na w70")
        _run(rec, "plan_dose", total_mg=56, lot="L1", weight_kg=70)
        _step_to(rec, rec.session.now + 6 * 60)
        _run(rec, "start_infusion", override_reason="scores entered on paper")
        first_spray = rec.session.phase_started_at[Phase.INFUSION]
        _step_to(rec, first_spray + 5 * 60)
        _run(rec, "stop_infusion")
        _run(rec, "start_recovery")
        assert rec.session.phase is Phase.RECOVERY
        _step_to(rec, first_spray + 116 * 60)
        status = rec.status()
        blockers = [b.code for b in status.step_check.blockers] if status.step_check else []
    finally:
        rec.run(until=lambda r: True)
    assert "observation_too_short" in blockers  # the rule knows 4 minutes are left
    assert status.recovery_remaining_s is not None and status.recovery_remaining_s > 0, (
        f"116 min after the first spray the screen counts the observation as done "
        f"{-status.recovery_remaining_s / 60:.1f} min ago; the REMS minimum is 120 min from the first spray")
