"""How a session's start and phases read in the browser and the review window (its length: monitor.session)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.session import Phase
from monitor.wall_clock import clock_text

PHASE_ORDER = ("setup", "baseline", "infusion", "recovery", "complete")


def local_time(t: float | None) -> str:
    """A moment as local date and time, e.g. ``2024-06-10 08:13``."""
    if t is None:
        return ""
    return clock_text(t, "%Y-%m-%d %H:%M")


def phases_text(phases: Sequence[str], words: Mapping[Phase, str] | None = None) -> str:
    """Phases reached, in session order, without the set-up every session has; named by ``words`` where given (a
    protocol's own names: an esketamine session's "pre-dose → dosing → observation", not an infusion's)."""
    reached = [p for p in PHASE_ORDER if p in phases and p != "setup"]
    if words is not None:
        reached = [words.get(Phase(p), p) for p in reached]
    return " → ".join(reached) if reached else "set-up only"
