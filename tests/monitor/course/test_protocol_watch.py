"""The protocol watch during a recording: what it keeps grows with the minutes, not the device's rate."""

from __future__ import annotations

import pytest

from drivers.core.readings import Parameter, Reading
from monitor.chair import ProtocolWatch
from monitor.protocols import load_protocol
from monitor.session import EventKind, Phase, SessionEvent

T0 = 1_760_000_000.0


def _watch_an_hour(rr: float | None) -> ProtocolWatch:
    """An esketamine session: dosing at T0, then an hour of a monitor sending SpO2, RR and a repeated cuff each
    second (``rr`` None: no respiration values at all)."""
    watch = ProtocolWatch(load_protocol("esketamine-nasal"))
    watch.on_event(SessionEvent(T0, EventKind.INFUSION_STARTED, Phase.INFUSION))
    cuff_at = T0 + 30 * 60
    for s in range(3600):
        t = T0 + s
        watch.observe(Reading(t, Parameter.SPO2, 97.0, "monitor"))
        if rr is not None:
            watch.observe(Reading(t, Parameter.RR, rr, "monitor"))
        if t >= cuff_at:  # the last cuff, sent again with every poll as a monitor does
            watch.observe(Reading(cuff_at, Parameter.NIBP_SYS, 124.0, "monitor"))
            watch.observe(Reading(cuff_at, Parameter.NIBP_DIA, 78.0, "monitor"))
    return watch


def test_kept_readings_grow_with_the_minutes_not_the_rate() -> None:
    watch = _watch_an_hour(rr=14.0)
    counts = {p: sum(1 for r in watch.readings if r.parameter is p) for p in Parameter}
    assert counts[Parameter.SPO2] == counts[Parameter.RR] == 120  # one every 30 s of 3,600 s
    assert counts[Parameter.NIBP_SYS] == counts[Parameter.NIBP_DIA] == 1  # one cuff, repeated 1,800 times


@pytest.mark.parametrize(("rr", "respiration_done"), [(14.0, True), (None, False)])
def test_checks_are_still_answered_by_the_thinned_readings(rr: float | None, respiration_done: bool) -> None:
    watch = _watch_an_hour(rr)
    states = {s.check.id: s for s in watch.states(T0 + 3600)}
    breathing = states["respiration_40_min"]
    assert (breathing.done_at is not None) is respiration_done
    assert breathing.missed is not respiration_done
    if respiration_done:
        assert breathing.window is not None and breathing.window[0] <= breathing.done_at <= breathing.window[1]
    bp = states["bp_40_min"]
    assert bp.done_at == T0 + 30 * 60 and bp.value == (124.0, 78.0)
