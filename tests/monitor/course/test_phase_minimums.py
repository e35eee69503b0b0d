"""The protocol's minimum phase lengths beyond the baseline: the infusion and the recovery.

Ending the infusion before its minimum is never refused (stopping a pump is a safety action) but is
recorded as early with the minimum and the nurse's reason; entering recovery before the minimum
without such a stop needs an override reason; completing before the protocol's minimum recovery is
refused even when the session's plan asked for less. A protocol without a minimum (esketamine's
dosing phase) asks for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.readiness import OverrideRequired
from monitor.recorder import Recorder
from monitor.session import EventKind, Phase
from monitor.store import Store
from tests.monitor.course.recording import run_for, run_now

T0 = 1_790_000_000.0
MINUTE = 60.0


def _recorder(store: Store, protocol: str = "ketamine-iv", plan: SessionPlan | None = None) -> Recorder:
    source = SimulatedSource(seed=3, speed=math.inf, start_time=T0)
    return Recorder.new_session(store, source, driver="simulated", port=None, plan=plan or SessionPlan(5, 40, 30),
                                nurse="AB", protocol=load_protocol(protocol))


def _run(recorder: Recorder, name: str, **args: object) -> object:
    return run_now(recorder, name, "AB", **args)


_for = run_for


def _infusing(store: Store, protocol: str = "ketamine-iv", plan: SessionPlan | None = None) -> Recorder:
    recorder = _recorder(store, protocol, plan)
    _run(recorder, "start_baseline")
    _for(recorder, 6)
    _run(recorder, "start_infusion", override_reason="checklist and dose on paper")
    assert recorder.session.phase is Phase.INFUSION
    return recorder


def _refusal(action: Callable[[], object]) -> OverrideRequired:
    with pytest.raises(OverrideRequired) as refused:
        action()
    return refused.value


@pytest.mark.parametrize(
    ("protocol", "infused_min", "blocked"),
    [
        ("ketamine-iv", 10, True),  # 30 min of the 40 min minimum left
        ("ketamine-iv", 39.5, True),
        ("ketamine-iv", 40.5, False),
        ("esketamine-nasal", 2, False),  # no minimum for the dosing phase
    ],
)
def test_recovery_before_the_minimum_infusion_needs_a_reason(
    db_path: Path, protocol: str, infused_min: float, blocked: bool
) -> None:
    with Store(db_path) as store:
        recorder = _infusing(store, protocol)
        _for(recorder, infused_min)
        if not blocked:
            _run(recorder, "start_recovery")
            assert recorder.session.phase is Phase.RECOVERY
            return
        refused = _refusal(lambda: _run(recorder, "start_recovery"))
        assert [b.code for b in refused.check.blockers] == ["infusion_too_short"]
        assert "of the protocol's 40 min minimum infusion left" in str(refused)
        assert recorder.session.phase is Phase.INFUSION
        _run(recorder, "start_recovery", override_reason="severe nausea, physician decided")
        assert recorder.session.phase is Phase.RECOVERY
        recorder.stop()
        recorder.run(until=lambda r: True)
        [started] = [e for e in store.events(recorder.session.id) if e.kind is EventKind.RECOVERY_STARTED]
        assert started.detail["override_reason"] == "severe nausea, physician decided"
        assert started.detail["overridden"] == ["infusion_too_short"]
        audit = store.audit_log(recorder.session.id)
        assert any(a["action"] == "protocol_override" for a in audit)
        assert any(a["action"] == "start_recovery_refused" for a in audit)


def test_an_early_stop_is_never_refused_and_says_why(db_path: Path) -> None:
    with Store(db_path) as store:
        recorder = _infusing(store)
        _for(recorder, 12)
        _run(recorder, "stop_infusion", reason="hypertension 190/110")  # no override needed: never refused
        assert recorder.session.infusion_stopped_at is not None and recorder.session.infusion_stopped_early
        _run(recorder, "start_recovery")  # the early stop's reason stands for entering recovery
        assert recorder.session.phase is Phase.RECOVERY
        recorder.stop()
        recorder.run(until=lambda r: True)
        [stopped] = [e for e in store.events(recorder.session.id) if e.kind is EventKind.INFUSION_STOPPED]
        assert stopped.detail["before_minimum_min"] == 40
        assert stopped.detail["reason"] == "hypertension 190/110"
        assert 11.9 <= stopped.detail["infused_min"] <= 12.1


def test_a_stop_after_the_minimum_is_an_ordinary_stop(db_path: Path) -> None:
    with Store(db_path) as store:
        recorder = _infusing(store)
        _for(recorder, 41)
        _run(recorder, "stop_infusion")
        assert not recorder.session.infusion_stopped_early
        recorder.stop()
        recorder.run(until=lambda r: True)
        [stopped] = [e for e in store.events(recorder.session.id) if e.kind is EventKind.INFUSION_STOPPED]
        assert "before_minimum_min" not in stopped.detail


def test_completing_before_the_protocols_minimum_recovery_is_refused_even_with_a_shorter_plan(db_path: Path) -> None:
    with Store(db_path) as store:
        # The session's plan asks for 10 min of recovery; the protocol's minimum is 30.
        recorder = _infusing(store, plan=SessionPlan(5, 40, 10))
        _for(recorder, 41)
        _run(recorder, "start_recovery")
        _for(recorder, 12)  # past the plan's 10 min, not the protocol's 30
        refused = _refusal(lambda: _run(recorder, "complete"))
        codes = [b.code for b in refused.check.blockers]
        assert "recovery_too_short" in codes
        assert any("of the protocol's 30 min minimum recovery left" in b.text for b in refused.check.blockers)
        assert recorder.session.phase is Phase.RECOVERY
