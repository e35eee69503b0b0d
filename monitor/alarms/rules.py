"""Physiological alarm rules: a profile's limits turned into cheap per-reading checks.

Rules on the same parameters in the same direction (e.g. SpO2 < 92 medium, SpO2 < 90 high) form a
*ladder*: each keeps its own condition-delay timer, and the most urgent rung whose delay has run
out is the one that alarms. Every condition is judged on reading time only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from drivers.core.readings import Parameter
from monitor.alarms.model import Priority
from monitor.alarms.profile import RuleSpec
from monitor.labels import LABELS, UNIT_TEXT
from monitor.session import Baseline

#: The rule parameter a reading's parameter feeds (HR and PR both feed the displayed heart rate).
RULE_PARAMETER_OF: Final[dict[Parameter, str]] = {
    Parameter.HR: "heart_rate",
    Parameter.PR: "heart_rate",
    Parameter.SPO2: "spo2",
    Parameter.NIBP_SYS: "nibp_sys",
    Parameter.NIBP_DIA: "nibp_dia",
    Parameter.NIBP_MEAN: "nibp_mean",
    Parameter.RR: "rr",
    Parameter.ETCO2: "etco2",
}

CONFIRM_NIBP: Final = "repeat NIBP to confirm"


def baseline_value(baseline: Baseline | None, parameter: str) -> float | None:
    """The baseline of a rule parameter, None before the baseline is taken."""
    if baseline is None:
        return None
    if parameter == "heart_rate":
        return baseline.heart_rate
    return baseline.value(Parameter(parameter))


@dataclass(slots=True)
class Rule:
    """A rule ready to judge values (limits resolved against the baseline)."""

    spec: RuleSpec
    order: int  # position in the profile, for a stable display order

    @property
    def id(self) -> str:
        """The rule id (the alarm's ``condition``)."""
        return self.spec.id

    @property
    def priority(self) -> Priority:
        """The priority an alarm from this rule starts with."""
        return self.spec.priority

    def limit(self, parameter: str, baseline: Baseline | None) -> float | None:
        """The threshold in the parameter's unit; None while a baseline-relative rule has no baseline."""
        spec = self.spec
        if not spec.relative:
            return spec.limit
        base = baseline_value(baseline, parameter)
        if base is None:
            return None
        # Rounded so that a whole-number limit stays whole (85 x 1.4 is 118.99999999999999 in floating point,
        # which would put a value exactly 40 % above baseline beyond a "more than 40 %" limit).
        return round(base * (1.0 + spec.direction * spec.limit / 100.0), 9)

    def breached(self, value: float, limit: float) -> bool:
        """Whether ``value`` is on the wrong side of ``limit``."""
        comparison = self.spec.comparison
        if comparison in ("below", "below_baseline_percent"):
            return value < limit
        if comparison == "at_or_below":
            return value <= limit
        if comparison in ("above", "above_baseline_percent"):
            return value > limit
        return value >= limit

    def worse(self, value: float, than: float | None) -> bool:
        """Whether ``value`` is further into the alarm than ``than`` (for the peak value)."""
        if than is None:
            return True
        return value > than if self.spec.direction > 0 else value < than

    def message(
        self, parameter: str, value: float, limit: float, baseline: Baseline | None, *, confirm: bool = True
    ) -> str:
        """The text a nurse reads, e.g. ``SpO2 86 < 90 %`` (NIBP: asking for a confirming cuff)."""
        label = LABELS.get(parameter, parameter)
        unit = UNIT_TEXT.get(parameter, "")
        spec = self.spec
        if spec.relative:
            base = baseline_value(baseline, parameter) or 0.0
            change = 100.0 * (value - base) / base if base else 0.0
            word = "above" if change >= 0 else "below"
            text = (
                f"{label} {value:g} {unit} is {abs(change):.0f} % {word} baseline {base:g} "
                f"(limit {spec.limit:g} %)"
            )
        else:
            text = f"{label} {value:g} {spec.operator} {limit:g} {unit}"
        if confirm and parameter.startswith("nibp"):
            text += f": {CONFIRM_NIBP}"
        return text


@dataclass(slots=True)
class Ladder:
    """Rules on the same parameters in the same direction, most urgent first."""

    key: tuple[tuple[str, ...], int, bool]
    rules: list[Rule] = field(default_factory=list)


def build_ladders(specs: Iterable[RuleSpec]) -> dict[str, list[Ladder]]:
    """Index rules by the rule parameter they watch, grouped into ladders."""
    ladders: dict[tuple[tuple[str, ...], int, bool], Ladder] = {}
    for order, spec in enumerate(specs):
        key = (tuple(sorted(spec.parameters)), spec.direction, spec.relative)
        ladders.setdefault(key, Ladder(key)).rules.append(Rule(spec, order))
    by_parameter: dict[str, list[Ladder]] = {}
    for ladder in ladders.values():
        # Most urgent first; between equal priorities the tighter limit wins (it breaches later).
        ladder.rules.sort(key=lambda r: (-int(r.priority), -r.spec.direction * r.spec.limit))
        for parameter in ladder.key[0]:
            by_parameter.setdefault(parameter, []).append(ladder)
    return by_parameter
