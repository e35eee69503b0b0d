"""Turns of the recorder that fail: the loop still ends where it should, and the watchdog says so at once."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import Phase, Session
from monitor.store import Store
from monitor.watchdog import Stall, Watchdog

START = 1_790_000_000.0
#: A loop that has not ended after this many failing turns never would: the test stops it itself.
GIVE_UP_AFTER = 20


def _recorder(store: Store, plan: SessionPlan, **options: Any) -> Recorder:
    source = SimulatedSource(seed=5, speed=math.inf, start_time=START)
    return Recorder.new_session(store, source, driver="simulated", port=None, plan=plan, nurse="RN", **options)


def _failing_ticks(recorder: Recorder, engine: AlarmEngine, monkeypatch: pytest.MonkeyPatch,
                   fails: Callable[[Session], bool]) -> list[int]:
    """The alarm engine's tick (once a turn) fails the turn whenever ``fails(session)``; the failures, counted.
    After :data:`GIVE_UP_AFTER` of them the loop is asked to stop."""
    original_tick = engine.tick
    failures: list[int] = []

    def tick(now: float, session: Session) -> None:
        if fails(session):
            failures.append(1)
            if len(failures) >= GIVE_UP_AFTER:
                recorder.request_stop()
            raise RuntimeError("the alarm engine cannot judge this turn")
        original_tick(now, session)

    monkeypatch.setattr(engine, "tick", tick)
    return failures


def test_a_loop_whose_turns_all_fail_still_ends_when_its_until_says_so(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``record --duration`` ends through ``until``: after a failed turn the loop went straight to the next one
    without asking it, so a recording whose every turn failed never ended (here: stopped by the test after 20)."""
    engine = AlarmEngine()
    recorder = _recorder(store, SessionPlan(1, 40, 30), alarms=engine)
    failures = _failing_ticks(recorder, engine, monkeypatch, lambda _session: True)
    asked: list[int] = []
    recorder.run(until=lambda r: asked.append(1) or True)
    assert len(failures) == 1 and len(asked) == 1
    assert recorder.end_status == "closed" and recorder.error is None


def test_a_session_completed_in_a_turn_that_fails_ends_the_recording(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn that completes the session fails after the completion (the alarm engine refuses the completed
    session), and so does every turn after it: the loop never saw the completion and went on for good."""
    engine = AlarmEngine()
    recorder = _recorder(store, SessionPlan(1, 2, 1), autopilot=True, alarms=engine)
    failures = _failing_ticks(recorder, engine, monkeypatch, lambda session: session.phase is Phase.COMPLETE)
    recorder.run()
    assert len(failures) == 1
    assert recorder.end_status == "complete"
    assert store.session_row(recorder.session.id)["status"] == "complete"


def test_a_failed_turn_is_alarmed_at_once_and_a_completed_turn_ends_the_alarm(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing turn was an alarm only once no turn had completed for 3 s, while the readings went unjudged. Now
    the watchdog names it from the first failure, and the next turn that completes ends it: one failure leaves
    nothing behind. (The watchdog's clock is held at the last beat, so only the failure itself can alarm.)"""
    engine = AlarmEngine()
    recorder = _recorder(store, SessionPlan(1, 40, 30), alarms=engine)
    watchdog = Watchdog(recorder, monotonic=lambda: recorder.last_beat)
    turns: list[int] = []
    seen: list[list[Stall]] = []

    def fails_once(_session: Session) -> bool:
        turns.append(1)
        if len(turns) == 2:
            seen.append(watchdog.check())  # between the failed turn and the next one
        return len(turns) == 1

    def until(_recorder: Recorder) -> bool:
        if len(turns) < 2:
            return False
        seen.append(watchdog.check())  # after a turn completed
        return True

    _failing_ticks(recorder, engine, monkeypatch, fails_once)
    recorder.run(until=until)
    assert len(seen) == 2, seen
    [stall] = seen[0]
    assert stall.role == "recorder" and not stall.stopped
    assert "MONITORING FAILING" in stall.text()
    assert "(RuntimeError: the alarm engine cannot judge this turn)" in stall.text()
    assert seen[1] == []
