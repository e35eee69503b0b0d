"""The one judgement of a late cuff, ``Session.nibp_overdue``, as a table.

Every caller asks here: the recorder's timeline entry with what the device can do, the alarm engine
regardless of the device. The session is rebuilt from its timeline (as after a restart), so a phase can
be reached with or without a cuff value and with or without a pending cuff start.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from drivers.core.readings import Parameter, Reading
from monitor.constants import NIBP_REQUEST_TIMEOUT_S
from monitor.session import EventKind, NibpSchedule, Phase, Session, SessionEvent

T0 = 1_800_000_000.0
#: Each phase starts 1000 s after the one before (setup at T0).
PHASE_EVENTS = (
    (Phase.BASELINE, EventKind.BASELINE_STARTED),
    (Phase.INFUSION, EventKind.INFUSION_STARTED),
    (Phase.RECOVERY, EventKind.RECOVERY_STARTED),
    (Phase.COMPLETE, EventKind.SESSION_COMPLETED),
)
INFUSION_CYCLE_S = 300.0  # overdue after 450 s
RECOVERY_CYCLE_S = 900.0  # overdue after 1350 s
CYCLES = NibpSchedule(infusion_s=INFUSION_CYCLE_S, recovery_s=RECOVERY_CYCLE_S)


def phase_start(phase: Phase) -> float:
    """When the test session entered ``phase``."""
    if phase is Phase.SETUP:
        return T0
    return T0 + 1000.0 * (1 + [p for p, _ in PHASE_EVENTS].index(phase))


def session_in(phase: Phase, cuff_at: float | None, requested_at: float | None, schedule: NibpSchedule) -> Session:
    """A session rebuilt from its timeline into ``phase``; offsets are seconds after the phase started."""
    s = Session("s1", T0, nibp_schedule=schedule)
    events = []
    for p, kind in PHASE_EVENTS:
        events.append(SessionEvent(phase_start(p), kind, p))
        if p is phase:
            break
    s.replay(events)
    if cuff_at is not None:
        s.observe(Reading(phase_start(phase) + cuff_at, Parameter.NIBP_SYS, 120.0, "test"))
    if requested_at is not None:
        s.note_nibp_requested(phase_start(phase) + requested_at)
    return s


@dataclass(frozen=True)
class Case:
    """One row: where the session is, what the device can do, and the answer."""

    phase: Phase
    cuff_at: float | None  # seconds after the phase started (negative: before it), None: never
    now: float  # seconds after the phase started
    device_starts_cuff: bool | None
    overdue: bool
    requested_at: float | None = None  # a cuff start, seconds after the phase started
    schedule: NibpSchedule = CYCLES


CASES = {
    # Phases where a cuff is due on a cycle: 1.5 cycles after the last value.
    "infusion, device starts the cuff, just in time": Case(Phase.INFUSION, 100, 550, True, False),
    "infusion, device starts the cuff, late": Case(Phase.INFUSION, 100, 551, True, True),
    "infusion, cuff started at the monitor, late": Case(Phase.INFUSION, 100, 551, False, True),
    "infusion, alarm (any device), late": Case(Phase.INFUSION, 100, 551, None, True),
    "recovery, longer cycle, just in time": Case(Phase.RECOVERY, 10, 1360, True, False),
    "recovery, longer cycle, late": Case(Phase.RECOVERY, 10, 1361, True, True),
    # A new phase gives the cuff a fresh chance: its clock starts one cycle before the phase at the earliest.
    "infusion, old baseline cuff, fresh chance": Case(Phase.INFUSION, -900, 150, True, False),
    "infusion, old baseline cuff, chance used": Case(Phase.INFUSION, -900, 151, True, True),
    # No cuff value at all.
    "no cuff yet, device starts the cuff": Case(Phase.INFUSION, None, 451, True, True),
    "no cuff yet, device starts the cuff, not yet": Case(Phase.INFUSION, None, 450, True, False),
    "no cuff yet, device cannot start one (oximeter alone)": Case(Phase.INFUSION, None, 5000, False, False),
    "no cuff yet, alarm (any device)": Case(Phase.INFUSION, None, 451, None, True),
    # A cuff start that has not brought its value does not stop the clock, pending or timed out.
    "request pending": Case(Phase.INFUSION, 100, 551, True, True, requested_at=540),
    "request pending, not yet late": Case(Phase.INFUSION, 100, 549, True, False, requested_at=540),
    "request timed out": Case(Phase.INFUSION, 100, 551 + NIBP_REQUEST_TIMEOUT_S, True, True, requested_at=550),
    # Phases where no cuff is due on a cycle.
    "setup": Case(Phase.SETUP, None, 5000, True, False),
    "baseline (its cuff is asked for by readiness)": Case(Phase.BASELINE, None, 5000, True, False),
    "baseline, old cuff": Case(Phase.BASELINE, 0, 5000, None, False),
    "complete": Case(Phase.COMPLETE, 0, 5000, None, False),
    "infusion without an automatic cycle": Case(
        Phase.INFUSION, 0, 5000, True, False, schedule=NibpSchedule(infusion_s=None)
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_nibp_overdue(case: Case) -> None:
    s = session_in(case.phase, case.cuff_at, case.requested_at, case.schedule)
    now = phase_start(case.phase) + case.now
    assert s.nibp_overdue(now, device_starts_cuff=case.device_starts_cuff) is case.overdue
    if case.requested_at is not None:
        pending = case.now - case.requested_at < NIBP_REQUEST_TIMEOUT_S
        assert s.nibp_request_pending(now) is pending


@pytest.mark.parametrize("device_starts_cuff", [True, False, None])
def test_once_a_cuff_value_came_every_device_is_held_to_the_cycle(device_starts_cuff: bool | None) -> None:
    # Before the value an oximeter alone is not held to the cycle; after one it is, like any other device.
    s = session_in(Phase.INFUSION, None, None, NibpSchedule())
    late = phase_start(Phase.INFUSION) + 1000
    s.observe(Reading(late - 600, Parameter.NIBP_SYS, 118.0, "test"))
    assert s.nibp_overdue(late, device_starts_cuff=device_starts_cuff)
    assert not s.nibp_overdue(late - 200, device_starts_cuff=device_starts_cuff)
