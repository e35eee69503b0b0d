"""The phase lengths a simulated patient follows, handed down by the session plan as plain data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PhaseTimes:
    """Planned baseline and infusion lengths in minutes (``monitor.plan.SessionPlan.phase_times`` builds it).

    The defaults are the clinic's (a test holds them equal to ``SessionPlan()``'s), for emulated
    devices that never hear of a session.
    """

    baseline_min: float = 5.0
    infusion_min: float = 40.0
