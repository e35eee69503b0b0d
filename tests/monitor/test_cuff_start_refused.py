"""A cuff start that falls while the link to the monitor is lost, in a running recorder (simulated time).

The simulated monitor's ``link_loss`` scenario cuts the link for 45 s at infusion minute 12; with the cuff
every 250 s the scheduled start at 12:30 falls in the cut. It must not be recorded as requested and lost:
the refusal is on the timeline once with its reason and raises the "NIBP start failed" alarm, the schedule
asks again each turn and the cuff starts when the link is back, which ends the alarm. The nurse's "NIBP now"
in the cut is refused with the reason.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from drivers.base import NIBP_NOT_STARTED
from drivers.core.readings import Parameter
from drivers.patient.model import LINK_LOSS_S
from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.session import EventKind, NibpSchedule, Phase, SessionRuleError
from monitor.store import Store

T0 = 1_700_000_000.0
CYCLE_S = 250.0  # the fourth infusion cuff (at 750 s) falls in the cut (720-765 s)
CUT_FROM_S = 12 * 60.0


def test_a_scheduled_cuff_in_a_link_cut_is_refused_on_the_timeline_and_runs_when_the_link_is_back(
    store: Store,
) -> None:
    source = SimulatedSource(scenario="link_loss", seed=2, speed=float("inf"), start_time=T0)
    recorder = Recorder.new_session(
        store, source, driver="simulated", port=None, plan=parse_plan("baseline:5,infusion:20,recovery:30"),
        autopilot=True, nibp_schedule=NibpSchedule(infusion_s=CYCLE_S), alarms=AlarmEngine(),
    )
    asked: list[Future[Any]] = []

    def infusion_s(r: Recorder) -> float:
        started = r.session.phase_started_at.get(Phase.INFUSION)
        return -1.0 if started is None else r.session.now - started

    def nurse_in_the_cut_then_stop(r: Recorder) -> bool:
        if not asked and infusion_s(r) >= CUT_FROM_S + 10:
            asked.append(r.submit("nibp_now", user="RN"))
        return infusion_s(r) >= CUT_FROM_S + LINK_LOSS_S + 60

    recorder.run(until=nurse_in_the_cut_then_stop)
    infusion_start = recorder.session.phase_started_at[Phase.INFUSION]
    cut = (infusion_start + CUT_FROM_S, infusion_start + CUT_FROM_S + LINK_LOSS_S)
    with pytest.raises(SessionRuleError, match="the cuff cannot be started now: the link to the monitor is lost"):
        asked[0].result(timeout=1)

    events = store.events(recorder.session.id)
    refused = [e for e in events if e.kind is EventKind.TECHNICAL and e.detail.get("condition") == NIBP_NOT_STARTED]
    assert [(e.t - infusion_start, e.detail["detail"], e.detail["reason"]) for e in refused] == [
        (3 * CYCLE_S, "the link to the monitor is lost", "schedule")
    ]
    requests = [e.t for e in events if e.kind is EventKind.NIBP_REQUESTED]
    assert not [t for t in requests if cut[0] <= t < cut[1]]  # nothing recorded as started in the cut
    [after] = [t for t in requests if t >= cut[1]]
    assert after == cut[1]  # the schedule's start went out with the first turn the link was back
    values = [r.t for r in store.readings(recorder.session.id, [Parameter.NIBP_SYS]) if r.t > cut[1]]
    assert values  # and the cuff measured
    [alarm] = [a for a in store.alarms(recorder.session.id) if a.condition == NIBP_NOT_STARTED]
    assert (alarm.started_at, alarm.ended_at) == (refused[0].t, after)
    assert alarm.message == (
        "NIBP start failed: the link to the monitor is lost - start the cuff at the monitor if it is not inflating"
    )
