"""A program killed in the middle of an alarm, then resumed: the alarm the nurse has not answered is still there."""

from __future__ import annotations

import math
import time
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.accounts import Principal
from monitor.alarms.engine import AlarmEngine
from monitor.app.device import DeviceSpec
from monitor.app.sessions import SessionSpec, start_session
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import abandon

T0 = time.time() - 35 * 60  # the program died about two minutes ago
PLAN = "baseline:3,infusion:40,recovery:30"


def _killed_during(db_path: Path, scenario: str, condition: str, state: str = "active") -> tuple[str, float]:
    store = Store(db_path)
    try:
        source = SimulatedSource(scenario, 1, speed=math.inf, start_time=T0, plan=parse_plan(PLAN).phase_times())
        rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=parse_plan(PLAN),
                                   autopilot=True, alarms=AlarmEngine(), nurse="RN")
        while not any(a.condition == condition and a.state.value == state
                      for a in rec.alarms.snapshot(rec.session.now).active):
            rec.step()
        for _ in range(3):
            rec.step()
        rec.flush()
        return abandon(rec, store)
    finally:
        store.close()


def test_a_high_bp_alarm_active_when_the_program_died_is_active_after_resume(db_path: Path) -> None:
    """SBP > 180 is a spot value: it ends only on a valid cuff within the limits. A restart took no cuff."""
    session_id, _last = _killed_during(db_path, "hypertension", "nibp_sys_crisis")
    store = Store(db_path)
    try:
        before = [a for a in store.alarms(session_id) if a.state != "ended" and a.priority.label == "high"]
        assert before, "the high BP alarm was open when the program died"
        spec = SessionSpec(device=DeviceSpec(driver="simulated", scenario="hypertension", speed=math.inf),
                           resume=session_id)
        rec = start_session(spec, store, Principal("RN", "nurse"), lambda _w: None)  # what --resume does
        engine = rec.alarms
        for _ in range(5):  # a few seconds of the resumed recording, no new cuff yet
            rec.step()
        active = [a.condition for a in engine.snapshot(rec.session.now).active]
        rec.run(until=lambda r: True)
    finally:
        store.close()
    assert any(a.condition in active for a in before), (
        f"open when the program died: {[a.condition for a in before]}; active after resume: {active}")


def test_a_latched_unacknowledged_desaturation_is_still_on_screen_after_resume(db_path: Path) -> None:
    """SpO2 < 90 latched (the value recovered, nobody acknowledged it); the program dies and is resumed.
    A latched high alarm stays until a nurse acknowledges it (IEC 60601-1-8; CLINICAL.md)."""
    session_id, _last = _killed_during(db_path, "desaturation", "spo2_low_severe", state="latched")
    store = Store(db_path)
    try:
        spec = SessionSpec(device=DeviceSpec(driver="simulated", scenario="desaturation", speed=math.inf),
                           resume=session_id)
        rec = start_session(spec, store, Principal("RN", "nurse"), lambda _w: None)
        for _ in range(5):
            rec.step()
        shown = [(a.condition, a.state.value) for a in rec.alarms.snapshot(rec.session.now).active]
        carried = [a for a in rec.alarms.snapshot(rec.session.now).active if a.carried]
        acknowledged = [a for a in store.alarms(session_id) if a.condition == "spo2_low_severe" and a.acknowledged_at]
        rec.run(until=lambda r: True)
    finally:
        store.close()
    assert not acknowledged
    assert any(condition == "spo2_low_severe" for condition, _state in shown), (
        f"unacknowledged latched SpO2 < 90 gone after resume; on screen: {shown}")
    # Marked as carried over: its condition was not judged after the interruption, so the screen must not
    # claim it is over.
    assert [(a.condition, a.state.value) for a in carried] == [("spo2_low_severe", "latched")]
    assert "before the recording was interrupted" in carried[0].shown


def test_a_blood_pressure_breach_waiting_for_its_confirming_cuff_gets_it_after_resume(db_path: Path) -> None:
    """Killed between SBP > 180 and its confirming cuff (30 s later): the resumed recording never started that cuff;
    the next one came on its cycle, minutes later. It now starts it at once."""
    session_id, _last = _killed_during(db_path, "hypertension", "nibp_sys_crisis")
    store = Store(db_path)
    try:
        waiting = [a for a in store.alarms(session_id) if a.state != "ended" and a.condition.startswith("nibp_")
                   and "repeat NIBP to confirm" in a.shown]
        assert waiting, "the breach was waiting for its confirming cuff when the program died"
        spec = SessionSpec(device=DeviceSpec(driver="simulated", scenario="hypertension", speed=math.inf),
                           resume=session_id)
        rec = start_session(spec, store, Principal("RN", "nurse"), lambda _w: None)
        resumed_at = rec.session.now
        for _ in range(5):
            rec.step()
        rec.flush()
        requests = [e for e in store.events(session_id) if e.kind.value == "nibp_requested" and e.t >= resumed_at]
        rec.run(until=lambda r: True)
    finally:
        store.close()
    # The confirming cuff at once (a cuff lost with the process may be started in the same moment, on its cycle).
    confirming = [e for e in requests if e.detail.get("reason") == "confirm alarm"]
    assert confirming and confirming[0].t - resumed_at < 5.0, [(e.t - resumed_at, e.detail) for e in requests]
