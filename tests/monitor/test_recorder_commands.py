"""Recorder commands the nurse's screen uses: change of device, cuff cycle, sign-in."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from drivers.base import LinkEventKind, Source
from drivers.core.readings import Reading
from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import EventKind, Phase, Session, SessionRuleError
from monitor.store import Store

T0 = 1_790_000_000.0


class _DeadPort(Source):
    """A device whose port cannot be opened."""

    def __init__(self) -> None:
        super().__init__("dead", "a device on a missing port")
        self.closed = False

    def open(self) -> None:
        raise OSError("could not open port /dev/ttyUSB9: No such file or directory")

    def read(self, timeout: float) -> list[Reading]:
        return []

    def now(self) -> float:
        return T0

    def close(self) -> None:
        self.closed = True


def _recorder(store: Store) -> Recorder:
    source = SimulatedSource(seed=1, speed=math.inf, start_time=T0)
    return Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30), nurse="AB")


def _run(recorder: Recorder, name: str, user: str = "AB", **args: object) -> object:
    future = recorder.submit(name, user, **args)
    recorder.step()
    return future.result(timeout=0)


def test_a_new_device_continues_the_session_and_the_change_is_recorded(store: Store) -> None:
    recorder = _recorder(store)
    for _ in range(5):
        recorder.step()
    _run(recorder, "start_baseline")
    old = recorder.source
    new = SimulatedSource(scenario="hypertension", seed=2, speed=math.inf, start_time=recorder.session.now)
    device = _run(recorder, "change_source", source=new, driver="simulated", port=None)
    assert device == new.device and recorder.source is new
    assert recorder.session.phase is Phase.BASELINE  # same session, same phase
    for _ in range(5):
        recorder.step()
    recorder.stop()
    recorder.close()
    events = store.events(recorder.session.id)
    [changed] = [e for e in events if e.kind is EventKind.DEVICE_CHANGED]
    assert changed.user == "AB" and changed.detail["previous_device"] == old.device
    assert any(a["action"] == "change_source" for a in store.audit_log(recorder.session.id))
    assert store.reading_count(recorder.session.id) > 20


def test_a_device_that_cannot_open_is_refused_and_the_old_one_keeps_running(store: Store) -> None:
    recorder = _recorder(store)
    recorder.step()
    dead = _DeadPort()
    future = recorder.submit("change_source", "AB", source=dead, driver="dead", port="/dev/ttyUSB9")
    recorder.step()
    with pytest.raises(SessionRuleError, match="cannot open dead: could not open port"):
        future.result(timeout=0)
    assert dead.closed and isinstance(recorder.source, SimulatedSource)
    assert recorder.step().readings  # still reading the old device
    recorder.close()


def test_the_cuff_cycle_changes_survive_a_resume(store: Store, db_path: Path) -> None:
    recorder = _recorder(store)
    recorder.step()
    _run(recorder, "set_nibp_interval", phase="infusion", minutes=10)
    assert recorder.session.nibp_schedule.infusion_s == 600.0
    with pytest.raises(SessionRuleError, match="1 to 30 minutes"):
        _run(recorder, "set_nibp_interval", phase="infusion", minutes=0.2)
    with pytest.raises(SessionRuleError, match="no cuff cycle"):
        _run(recorder, "set_nibp_interval", phase="complete", minutes=5)
    _run(recorder, "sign_in", user="CD", role="physician")
    assert recorder.nurse == "CD"
    recorder.flush()
    session = Session(recorder.session.id, T0, SessionPlan(1, 40, 30))
    session.replay(store.events(recorder.session.id))
    assert session.nibp_schedule.infusion_s == 600.0
    audit = store.audit_log(recorder.session.id)
    assert any(a["action"] == "sign_in" and a["user"] == "CD" and "physician" in a["detail"] for a in audit)
    recorder.close()


def test_a_technical_alarm_cannot_be_raised_or_cleared_through_submit(store: Store) -> None:
    """Only the recorder itself reports storage and screen trouble; a command naming it is refused and audited."""
    source = SimulatedSource(seed=1, speed=math.inf, start_time=T0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30),
                                    nurse="AB", alarms=AlarmEngine())
    recorder.step()
    for name in ("storage_failed", "screen_responding"):
        future = recorder.submit(name, "AB", role="admin", error="made up")
        recorder.step()
        with pytest.raises(ValueError, match="reported by the monitor itself"):
            future.result(timeout=0)
    assert recorder.alarms is not None
    assert not [a for a in recorder.alarms.snapshot(recorder.session.now).active if a.condition == "storage_failed"]
    recorder.stop()
    recorder.close()
    refused = [a for a in store.audit_log(recorder.session.id) if a["action"].endswith("_refused")]
    assert [a["action"] for a in refused] == ["storage_failed_refused", "screen_responding_refused"]


@pytest.mark.parametrize("condition", ["check_done_late", "phase_too_long_ended", "link_restored", None])
def test_only_the_reported_technical_events_can_be_put_on_the_timeline_by_others(store: Store,
                                                                                  condition: str | None) -> None:
    """A forged 'check done late' would end a missed-check alarm: the engine acts on these, so only the recorder
    writes them; the feed's and the window's own reports go through."""
    recorder = _recorder(store)
    recorder.step()
    refused = recorder.submit("technical_event", None, condition=condition, check="vitals_15min")
    allowed = recorder.submit("technical_event", None, condition="guard_ended", detail="the guard had ended")
    recorder.step()
    with pytest.raises(ValueError, match="recorded by the monitor itself"):
        refused.result(timeout=0)
    allowed.result(timeout=0)
    recorder.stop()
    recorder.close()
    conditions = [e.detail.get("condition") for e in store.events(recorder.session.id) if e.kind is EventKind.TECHNICAL]
    assert conditions == ["guard_ended"]


class _CableOut(SimulatedSource):
    """The simulated monitor whose cable is pulled: its link is reported lost, and nothing comes any more."""

    def pull(self) -> None:
        self._link_event(LinkEventKind.LINK_LOST, self.now(), "port error: the device went away")
        self.gone = True

    def read(self, timeout: float) -> list[Reading]:
        return [] if getattr(self, "gone", False) else super().read(timeout)


def test_a_device_changed_while_its_link_is_lost_ends_the_loss(store: Store) -> None:
    """The lost link's alarm never ended after a change of device (the new one's values flowing under "link lost"),
    and while it held no "no value" alarm could start: a device sending no SpO2 was not alarmed."""
    source = _CableOut(seed=1, speed=math.inf, start_time=T0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30),
                                    nurse="AB", alarms=AlarmEngine())
    for _ in range(30):
        recorder.step()
    source.pull()
    for _ in range(5):
        recorder.step()
    assert any(a.condition == "link_lost" for a in recorder.alarms.snapshot(recorder.session.now).active)
    new = SimulatedSource(scenario="probe_off", seed=2, speed=math.inf, start_time=recorder.session.now)
    _run(recorder, "change_source", source=new, driver="simulated", port=None)
    for _ in range(5):
        recorder.step()
    active = {a.condition for a in recorder.alarms.snapshot(recorder.session.now).active}
    assert "link_lost" not in active
    recorder.stop()
    recorder.close()
    kinds = [e.kind for e in store.events(recorder.session.id)]
    changed = kinds.index(EventKind.DEVICE_CHANGED)
    assert kinds.index(EventKind.LINK_LOST) < changed and EventKind.LINK_RESTORED in kinds[changed:]
    [ended] = [a for a in store.alarms(recorder.session.id) if a.condition == "link_lost"]
    assert ended.ended_at is not None
