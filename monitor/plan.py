"""The session plan: how long baseline, infusion and recovery last, parsed from `--plan`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.core.phases import PhaseTimes
from monitor.constants import (
    BASELINE_MINUTES_DEFAULT,
    INFUSION_MINUTES_DEFAULT,
    RECOVERY_MINUTES_DEFAULT,
)


class PlanError(ValueError):
    """A `--plan` text that cannot be understood."""


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """Planned phase lengths in minutes."""

    baseline_min: float = BASELINE_MINUTES_DEFAULT
    infusion_min: float = INFUSION_MINUTES_DEFAULT
    recovery_min: float = RECOVERY_MINUTES_DEFAULT

    def text(self) -> str:
        """The plan in `--plan` syntax."""
        return (
            f"baseline:{_minutes(self.baseline_min)},infusion:{_minutes(self.infusion_min)},"
            f"recovery:{_minutes(self.recovery_min)}"
        )

    def phase_times(self) -> PhaseTimes:
        """What a simulated patient needs of the plan: when the infusion starts and how long it lasts."""
        return PhaseTimes(baseline_min=self.baseline_min, infusion_min=self.infusion_min)


def _minutes(value: float) -> str:
    """Short text for a number of minutes that still reads back as exactly the same number."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


PHASE_KEYS = ("baseline", "infusion", "recovery")
#: No phase of a chair-side session lasts a day; a larger number is a typo (e.g. seconds for minutes).
MAX_PHASE_MINUTES = 24 * 60.0


def parse_plan(text: str) -> SessionPlan:
    """Parse ``baseline:5,infusion:40,recovery:30``; omitted phases keep their defaults."""
    values: dict[str, float] = {}
    if not text.strip():
        raise PlanError("the plan is empty; expected e.g. baseline:5,infusion:40,recovery:30")
    for part in text.split(","):
        name, sep, number = part.strip().partition(":")
        name = name.strip().lower()
        if not sep:
            raise PlanError(f"'{part.strip()}' is not NAME:MINUTES (e.g. infusion:40)")
        if name not in PHASE_KEYS:
            raise PlanError(f"unknown phase '{name}' in plan; use {', '.join(PHASE_KEYS)}")
        if name in values:
            raise PlanError(f"phase '{name}' appears twice in plan")
        try:
            minutes = float(number)
        except ValueError:
            raise PlanError(f"'{number.strip()}' is not a number of minutes for {name}") from None
        if minutes > MAX_PHASE_MINUTES:
            raise PlanError(f"{name} of {number.strip()} minutes is longer than a day; give minutes, e.g. {name}:40")
        if not math.isfinite(minutes) or minutes <= 0:
            raise PlanError(f"{name} must last a positive number of minutes, not {number.strip()}")
        values[name] = minutes
    return SessionPlan(
        baseline_min=values.get("baseline", BASELINE_MINUTES_DEFAULT),
        infusion_min=values.get("infusion", INFUSION_MINUTES_DEFAULT),
        recovery_min=values.get("recovery", RECOVERY_MINUTES_DEFAULT),
    )
