"""The clinic's alarm profile: limits, priorities, delays and durations, read from TOML.

A profile that cannot be used raises :class:`ProfileError` naming the file, the line and the
field, so a clinic can fix it; whoever holds a valid profile keeps it until a new one loads.
The default profile ships as package data (``default_profile.toml``).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from monitor.alarms.model import Priority
from monitor.config import ConfigError, environment
from monitor.readiness import CareRules
from monitor.session import Phase
from monitor.toml_lines import TomlLines, load_toml, read_clinic_file

DEFAULT_PROFILE_NAME: Final = "default_profile.toml"

#: Watched quantities a rule may name; ``heart_rate`` is the displayed heart rate (hr, else pr).
RULE_PARAMETERS: Final = ("spo2", "heart_rate", "nibp_sys", "nibp_dia", "nibp_mean", "rr", "etco2")
NIBP_RULE_PARAMETERS: Final = frozenset({"nibp_sys", "nibp_dia", "nibp_mean"})

#: Comparison keys: operator text, direction (+1: too high, -1: too low), relative to baseline.
COMPARISONS: Final[dict[str, tuple[str, int, bool]]] = {
    "below": ("<", -1, False),
    "at_or_below": ("≤", -1, False),
    "above": (">", +1, False),
    "at_or_above": ("≥", +1, False),
    "above_baseline_percent": (">", +1, True),
    "below_baseline_percent": ("<", -1, True),
}

# Allowed ranges (inclusive) of the durations, seconds.
SPO2_DELAY_RANGE_S: Final = (10.0, 30.0)
OTHER_DELAY_RANGE_S: Final = (0.0, 120.0)
TIMING_RANGES_S: Final[dict[str, tuple[float, float]]] = {
    "audio_pause_s": (10.0, 900.0),
    "escalate_medium_after_s": (30.0, 3600.0),
    "lost_data_escalate_after_s": (10.0, 600.0),
    "window_factor": (1.0, 4.0),
    "end_hold_s": (0.0, 30.0),
    "infusion_paused_remind_s": (60.0, 1800.0),
}
NO_DATA_RANGE_S: Final = (2.0, 120.0)
NO_DATA_PARAMETERS: Final = ("spo2", "heart_rate", "respiration")
#: Seconds without a usable value before "no data", once the parameter has been seen (respiration: RR or EtCO2,
#: as long as CLINICAL.md's "no breath" delay, so an apnoea a device shows as dashes is not silent).
NO_DATA_DEFAULTS_S: Final[dict[str, float]] = {"spo2": 10.0, "heart_rate": 10.0, "respiration": 20.0}
TECHNICAL_KEYS: Final = (
    "lost_data",
    "lost_data_infusion",
    "invalid_value",
    "nibp_failed",
    "nibp_overdue",
    "storage_failed",
    "infusion_paused",
)
#: How far back inside its limit a continuous value must be before its alarm ends (parameter's unit).
END_MARGIN_DEFAULTS: Final[dict[str, float]] = {"spo2": 1.0, "heart_rate": 2.0, "rr": 1.0, "etco2": 2.0}
END_MARGIN_RANGE: Final[dict[str, tuple[float, float]]] = {
    "spo2": (0.0, 5.0),
    "heart_rate": (0.0, 20.0),
    "rr": (0.0, 5.0),
    "etco2": (0.0, 10.0),
}
#: How much worse than at its acknowledgement an alarm's value must get to sound again.
WORSEN_STEP_DEFAULTS: Final[dict[str, float]] = {
    "spo2": 3.0,
    "heart_rate": 10.0,
    "nibp_sys": 10.0,
    "nibp_dia": 10.0,
    "nibp_mean": 10.0,
    "rr": 4.0,
    "etco2": 5.0,
}
WORSEN_STEP_RANGE: Final = (1.0, 50.0)
#: Limits outside these are nonsense for the parameter (inclusive, parameter's unit).
PHYSIOLOGICAL_BOUNDS: Final[dict[str, tuple[float, float]]] = {
    "spo2": (70.0, 100.0),
    "heart_rate": (25.0, 250.0),
    "nibp_sys": (50.0, 260.0),
    "nibp_dia": (30.0, 160.0),
    "nibp_mean": (40.0, 200.0),
    "rr": (0.0, 60.0),  # below 1 /min is how a capnograph's apnoea (RR 0) is caught
    "etco2": (5.0, 100.0),
}
NIBP_CONFIRM_RANGE_S: Final = (0.0, 60.0)
BASELINE_MIN_RANGE_S: Final = (60.0, 1800.0)
DISCHARGE_AGE_RANGE_S: Final = (30.0, 1800.0)
_RULE_KEYS: Final = frozenset({"parameter", "parameters", "priority", "delay_s", "enabled", *COMPARISONS})
_TOP_KEYS: Final = frozenset(
    {
        "profile", "timing", "no_data", "technical", "rules", "phases", "end_margin", "worsen_step",
        "nibp_confirm", "baseline", "discharge",
    }
)
_RULE_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One limit as the clinic wrote it."""

    id: str
    parameters: tuple[str, ...]
    comparison: str
    limit: float
    priority: Priority
    delay_s: float = 0.0
    enabled: bool = True

    @property
    def operator(self) -> str:
        """``<``, ``≤``, ``>`` or ``≥``."""
        return COMPARISONS[self.comparison][0]

    @property
    def direction(self) -> int:
        """+1 when the rule catches values that are too high, -1 too low."""
        return COMPARISONS[self.comparison][1]

    @property
    def relative(self) -> bool:
        """True for a limit relative to the session baseline (percent)."""
        return COMPARISONS[self.comparison][2]

    def describe(self) -> str:
        """The condition in words, e.g. ``spo2 < 90`` or ``nibp_sys/nibp_dia > baseline +20 %``."""
        names = "/".join(self.parameters)
        if self.relative:
            sign = "+" if self.direction > 0 else "-"
            return f"{names} {self.operator} baseline {sign}{self.limit:g} %"
        return f"{names} {self.operator} {self.limit:g}"


@dataclass(frozen=True)
class AlarmProfile:
    """Everything the alarm engine takes from the clinic."""

    name: str
    source: str
    rules: tuple[RuleSpec, ...]
    phase_rules: Mapping[Phase, Mapping[str, RuleSpec]] = field(default_factory=dict)
    audio_pause_s: float = 120.0
    escalate_medium_after_s: float = 300.0
    lost_data_escalate_after_s: float = 60.0
    no_data_s: Mapping[str, float] = field(default_factory=lambda: dict(NO_DATA_DEFAULTS_S))
    technical: Mapping[str, Priority] = field(default_factory=dict)
    description: str = ""
    sha256: str = ""
    #: The condition window is this many times a rule's delay (see :mod:`monitor.alarms.condition`).
    window_factor: float = 2.0
    #: A continuous value must be back within its limit (by its margin) this long before its alarm ends.
    end_hold_s: float = 5.0
    #: A paused infusion left paused this long gets a reminder (the record counts no drug while it is paused).
    infusion_paused_remind_s: float = 300.0
    end_margin: Mapping[str, float] = field(default_factory=lambda: dict(END_MARGIN_DEFAULTS))
    worsen_step: Mapping[str, float] = field(default_factory=lambda: dict(WORSEN_STEP_DEFAULTS))
    #: Start a confirming cuff automatically after a blood-pressure alarm starts (where the device can).
    nibp_confirm: bool = True
    nibp_confirm_after_s: float = 30.0
    care: CareRules = field(default_factory=CareRules)
    #: High-priority rules the clinic has knowingly allowed to be switched off.
    allow_disabled: frozenset[str] = frozenset()

    def rules_for(self, phase: Phase) -> tuple[RuleSpec, ...]:
        """The enabled rules in a phase (the phase's changes applied)."""
        changes = self.phase_rules.get(phase, {})
        merged = [changes.get(rule.id, rule) for rule in self.rules]
        known = {rule.id for rule in self.rules}
        merged += [rule for rule_id, rule in changes.items() if rule_id not in known]
        return tuple(rule for rule in merged if rule.enabled)

    def rule(self, rule_id: str, phase: Phase | None = None) -> RuleSpec:
        """A rule by id, as it applies in ``phase`` (or the base rule); KeyError when unknown."""
        if phase is not None and rule_id in self.phase_rules.get(phase, {}):
            return self.phase_rules[phase][rule_id]
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def technical_priority(self, key: str) -> Priority:
        """Priority of a technical alarm kind."""
        return self.technical.get(key, Priority.LOW)

    def with_rule(self, rule: RuleSpec, phase: Phase | None = None) -> AlarmProfile:
        """A copy where ``rule`` replaces the rule of that id (in one phase, or everywhere)."""
        lines = _NoLines(self.source)
        _check_rule(rule, f"rules.{rule.id}", lines)
        if phase is None:
            if not any(r.id == rule.id for r in self.rules):
                raise KeyError(rule.id)
            rules = tuple(rule if r.id == rule.id else r for r in self.rules)
            changed = replace(self, rules=rules)
        else:
            phase_rules = {p: dict(m) for p, m in self.phase_rules.items()}
            phase_rules.setdefault(phase, {})[rule.id] = rule
            changed = replace(self, phase_rules=_freeze_phases(phase_rules))
        _check_sense(changed, lines)
        return changed


# -- where a key is written ------------------------------------------------------------------------


class _Lines(TomlLines):
    """Line numbers of tables and keys in a profile's text; errors are :class:`ProfileError`."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text, source, ProfileError)


class _NoLines(_Lines):
    """For rules built in code (e.g. a limit changed on screen): no lines to name."""

    def __init__(self, source: str) -> None:
        super().__init__("", source)


# -- reading -----------------------------------------------------------------------------------------


def _number(
    value: Any, path: str, lines: _Lines, low: float | None = None, high: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise lines.error(path, f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise lines.error(path, f"expected a finite number, got {value!r}")
    if low is not None and high is not None and not low <= number <= high:
        raise lines.error(path, f"{number:g} is outside the allowed range {low:g} to {high:g}")
    return number


def _priority(value: Any, path: str, lines: _Lines) -> Priority:
    if not isinstance(value, str):
        raise lines.error(path, f"expected high, medium or low, got {value!r}")
    try:
        return Priority.parse(value)
    except ValueError as exc:
        raise lines.error(path, str(exc)) from None


def _table(value: Any, path: str, lines: _Lines) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise lines.error(path, f"expected a table, got {value!r}")
    return value


def _unknown(
    table: Mapping[str, Any], allowed: frozenset[str] | tuple[str, ...], path: str, lines: _Lines
) -> None:
    for key in table:
        if key not in allowed:
            raise lines.error(
                f"{path}.{key}" if path else key,
                f"unknown field; expected one of {', '.join(sorted(allowed))}",
            )


def _check_rule(rule: RuleSpec, path: str, lines: _Lines) -> None:
    """Checks that hold for every rule, however it was made."""
    if not rule.parameters:
        raise lines.error(f"{path}.parameter", "a rule needs a parameter")
    for name in rule.parameters:
        if name not in RULE_PARAMETERS:
            raise lines.error(
                f"{path}.parameter", f"unknown parameter '{name}'; use {', '.join(RULE_PARAMETERS)}"
            )
    if rule.comparison not in COMPARISONS:
        raise lines.error(f"{path}.{rule.comparison}", f"unknown comparison; use {', '.join(COMPARISONS)}")
    if not math.isfinite(rule.limit):
        raise lines.error(f"{path}.{rule.comparison}", "the limit must be a finite number")
    if rule.relative and not 0 < rule.limit <= 200:
        raise lines.error(f"{path}.{rule.comparison}", f"{rule.limit:g} % is outside 0 to 200 %")
    if not rule.relative and rule.limit < 0:
        raise lines.error(f"{path}.{rule.comparison}", "a limit cannot be negative")
    nibp = set(rule.parameters) & NIBP_RULE_PARAMETERS
    if nibp and rule.delay_s != 0:
        raise lines.error(f"{path}.delay_s", "NIBP is a spot value and takes no condition delay (use 0)")
    if "spo2" in rule.parameters and rule.direction < 0:
        low, high = SPO2_DELAY_RANGE_S
        if not low <= rule.delay_s <= high:
            raise lines.error(f"{path}.delay_s", f"the SpO2 low delay must be {low:g} to {high:g} s")
    else:
        low, high = OTHER_DELAY_RANGE_S
        if not low <= rule.delay_s <= high:
            raise lines.error(f"{path}.delay_s", f"the delay must be {low:g} to {high:g} s")


def _rule(rule_id: str, raw: Any, path: str, lines: _Lines, base: RuleSpec | None) -> RuleSpec:
    table = _table(raw, path, lines)
    _unknown(table, _RULE_KEYS, path, lines)
    if "parameter" in table and "parameters" in table:
        raise lines.error(f"{path}.parameters", "give either parameter or parameters, not both")
    parameters: tuple[str, ...] | None = base.parameters if base else None
    if "parameter" in table:
        if not isinstance(table["parameter"], str):
            raise lines.error(f"{path}.parameter", f"expected a name, got {table['parameter']!r}")
        parameters = (table["parameter"],)
    elif "parameters" in table:
        raw_list = table["parameters"]
        if not isinstance(raw_list, list) or not all(isinstance(p, str) for p in raw_list):
            raise lines.error(f"{path}.parameters", "expected a list of names")
        parameters = tuple(raw_list)
    if parameters is None:
        raise lines.error(f"{path}.parameter", "missing (which vital sign does this rule watch?)")
    given = [key for key in COMPARISONS if key in table]
    if len(given) > 1:
        raise lines.error(f"{path}.{given[1]}", f"give one comparison only (also has {given[0]})")
    if given:
        comparison = given[0]
        limit = _number(table[comparison], f"{path}.{comparison}", lines)
    elif base is not None:
        comparison, limit = base.comparison, base.limit
    else:
        raise lines.error(path, f"missing a limit: one of {', '.join(COMPARISONS)}")
    if "priority" in table:
        priority = _priority(table["priority"], f"{path}.priority", lines)
    elif base is not None:
        priority = base.priority
    else:
        raise lines.error(f"{path}.priority", "missing (high, medium or low)")
    delay = (
        _number(table["delay_s"], f"{path}.delay_s", lines)
        if "delay_s" in table
        else (base.delay_s if base else 0.0)
    )
    enabled = table.get("enabled", base.enabled if base else True)
    if not isinstance(enabled, bool):
        raise lines.error(f"{path}.enabled", f"expected true or false, got {enabled!r}")
    rule = RuleSpec(rule_id, parameters, comparison, limit, priority, delay, enabled)
    _check_rule(rule, path, lines)
    return rule


def _rule_path(profile: AlarmProfile, phase: Phase, rule: RuleSpec, key: str) -> str:
    """Where a rule as it applies in ``phase`` was written (its phase change, else the base rule)."""
    if rule.id in profile.phase_rules.get(phase, {}):
        return f"phases.{phase.value}.rules.{rule.id}.{key}"
    return f"rules.{rule.id}.{key}"


def _check_sense(profile: AlarmProfile, lines: _Lines) -> None:
    """Checks across rules: limits in bounds, each ladder's priorities in order, no high rule off.

    * An absolute limit lies within :data:`PHYSIOLOGICAL_BOUNDS` of its parameter.
    * On one parameter in one direction, a more urgent rule never has a limit nearer to normal
      than a less urgent one (SpO2 high below 90 and medium below 92, never the other way round).
    * A high-priority rule switched off (in any phase) must be named in ``profile.allow_disabled``.
    """
    for phase in Phase:
        changes = profile.phase_rules.get(phase, {})
        merged = [changes.get(rule.id, rule) for rule in profile.rules]
        merged += [rule for rule_id, rule in changes.items() if rule_id not in {r.id for r in profile.rules}]
        for rule in merged:
            base = next((r for r in profile.rules if r.id == rule.id), rule)
            is_high = Priority.HIGH in (rule.priority, base.priority)
            if not rule.enabled and is_high and rule.id not in profile.allow_disabled:
                raise lines.error(
                    _rule_path(profile, phase, rule, "enabled"),
                    f"'{rule.id}' is a high-priority rule; switching it off needs "
                    f'allow_disabled = ["{rule.id}"] in [profile]',
                )
            if rule.relative:
                continue
            for name in rule.parameters:
                low, high = PHYSIOLOGICAL_BOUNDS[name]
                if not low <= rule.limit <= high:
                    raise lines.error(
                        _rule_path(profile, phase, rule, rule.comparison),
                        f"{rule.limit:g} is outside the physiological bounds of {name} ({low:g} to {high:g})",
                    )
        enabled = [r for r in merged if r.enabled and not r.relative]
        for a in enabled:
            for b in enabled:
                if a.priority <= b.priority or a.direction != b.direction:
                    continue
                if not set(a.parameters) & set(b.parameters):
                    continue
                # a is more urgent: its limit must be at least as far from normal as b's.
                nearer = a.limit > b.limit if a.direction < 0 else a.limit < b.limit
                if nearer:
                    # Name the rule the phase changed, where one of the two comes from a phase change.
                    culprit = b if b.id in changes and a.id not in changes else a
                    raise lines.error(
                        _rule_path(profile, phase, culprit, culprit.comparison),
                        f"the {a.priority.label}-priority limit {a.describe()} is nearer to normal than the "
                        f"{b.priority.label}-priority limit {b.describe()} ({b.id}); each priority's limits "
                        "must be in order" + (f" (in the {phase.value} phase)" if phase in profile.phase_rules else ""),
                    )


def _freeze_phases(phases: Mapping[Phase, Mapping[str, RuleSpec]]) -> Mapping[Phase, Mapping[str, RuleSpec]]:
    return MappingProxyType({p: MappingProxyType(dict(m)) for p, m in phases.items()})


def parse_profile(text: str, source: str = "<profile>") -> AlarmProfile:
    """Build a profile from TOML text; any problem raises :class:`ProfileError`."""
    data = load_toml(text, source, ProfileError)
    lines = _Lines(text, source)
    _unknown(data, _TOP_KEYS, "", lines)

    meta = _table(data.get("profile", {}), "profile", lines)
    _unknown(meta, ("name", "description", "allow_disabled"), "profile", lines)
    name = meta.get("name", Path(source).stem)
    description = meta.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise lines.error("profile.name", "name and description must be text")
    allow_disabled = meta.get("allow_disabled", [])
    if not isinstance(allow_disabled, list) or not all(isinstance(a, str) for a in allow_disabled):
        raise lines.error("profile.allow_disabled", "expected a list of rule ids")

    timing_raw = _table(data.get("timing", {}), "timing", lines)
    _unknown(timing_raw, tuple(TIMING_RANGES_S), "timing", lines)
    timing = {
        key: _number(timing_raw[key], f"timing.{key}", lines, *TIMING_RANGES_S[key])
        for key in TIMING_RANGES_S
        if key in timing_raw
    }

    no_data_raw = _table(data.get("no_data", {}), "no_data", lines)
    _unknown(no_data_raw, NO_DATA_PARAMETERS, "no_data", lines)
    no_data = dict(NO_DATA_DEFAULTS_S)
    for key, value in no_data_raw.items():
        no_data[key] = _number(value, f"no_data.{key}", lines, *NO_DATA_RANGE_S)

    technical_raw = _table(data.get("technical", {}), "technical", lines)
    _unknown(technical_raw, TECHNICAL_KEYS, "technical", lines)
    technical = {
        "lost_data": Priority.LOW,
        "lost_data_infusion": Priority.MEDIUM,
        "invalid_value": Priority.LOW,
        "nibp_failed": Priority.LOW,
        "nibp_overdue": Priority.MEDIUM,
        "storage_failed": Priority.MEDIUM,
        "infusion_paused": Priority.LOW,
    }
    for key, value in technical_raw.items():
        technical[key] = _priority(value, f"technical.{key}", lines)

    margins_raw = _table(data.get("end_margin", {}), "end_margin", lines)
    _unknown(margins_raw, tuple(END_MARGIN_RANGE), "end_margin", lines)
    end_margin = dict(END_MARGIN_DEFAULTS)
    for key, value in margins_raw.items():
        end_margin[key] = _number(value, f"end_margin.{key}", lines, *END_MARGIN_RANGE[key])

    steps_raw = _table(data.get("worsen_step", {}), "worsen_step", lines)
    _unknown(steps_raw, tuple(WORSEN_STEP_DEFAULTS), "worsen_step", lines)
    worsen_step = dict(WORSEN_STEP_DEFAULTS)
    for key, value in steps_raw.items():
        worsen_step[key] = _number(value, f"worsen_step.{key}", lines, *WORSEN_STEP_RANGE)

    confirm_raw = _table(data.get("nibp_confirm", {}), "nibp_confirm", lines)
    _unknown(confirm_raw, ("enabled", "after_s"), "nibp_confirm", lines)
    confirm_enabled = confirm_raw.get("enabled", True)
    if not isinstance(confirm_enabled, bool):
        raise lines.error("nibp_confirm.enabled", f"expected true or false, got {confirm_enabled!r}")
    confirm_after = (
        _number(confirm_raw["after_s"], "nibp_confirm.after_s", lines, *NIBP_CONFIRM_RANGE_S)
        if "after_s" in confirm_raw
        else 30.0
    )

    care_defaults = CareRules()
    baseline_raw = _table(data.get("baseline", {}), "baseline", lines)
    _unknown(baseline_raw, ("min_duration_s", "hold_sys", "hold_dia"), "baseline", lines)
    discharge_raw = _table(data.get("discharge", {}), "discharge", lines)
    _unknown(discharge_raw, ("nibp_max_age_s", "spo2_max_age_s"), "discharge", lines)

    def care_value(table: dict[str, Any], key: str, path: str, bounds: tuple[float, float], default: float) -> float:
        return _number(table[key], path, lines, *bounds) if key in table else default

    care = CareRules(
        baseline_min_s=care_value(
            baseline_raw, "min_duration_s", "baseline.min_duration_s", BASELINE_MIN_RANGE_S,
            care_defaults.baseline_min_s,
        ),
        hold_sys=care_value(
            baseline_raw, "hold_sys", "baseline.hold_sys", PHYSIOLOGICAL_BOUNDS["nibp_sys"], care_defaults.hold_sys
        ),
        hold_dia=care_value(
            baseline_raw, "hold_dia", "baseline.hold_dia", PHYSIOLOGICAL_BOUNDS["nibp_dia"], care_defaults.hold_dia
        ),
        discharge_nibp_max_age_s=care_value(
            discharge_raw, "nibp_max_age_s", "discharge.nibp_max_age_s", DISCHARGE_AGE_RANGE_S,
            care_defaults.discharge_nibp_max_age_s,
        ),
        discharge_spo2_max_age_s=care_value(
            discharge_raw, "spo2_max_age_s", "discharge.spo2_max_age_s", DISCHARGE_AGE_RANGE_S,
            care_defaults.discharge_spo2_max_age_s,
        ),
    )

    rules_raw = _table(data.get("rules", {}), "rules", lines)
    rules: list[RuleSpec] = []
    for rule_id, raw in rules_raw.items():
        if not _RULE_ID.match(rule_id):
            raise lines.error(f"rules.{rule_id}", "a rule id is lower-case letters, digits and _")
        rules.append(_rule(rule_id, raw, f"rules.{rule_id}", lines, None))
    by_id = {rule.id: rule for rule in rules}

    phases_raw = _table(data.get("phases", {}), "phases", lines)
    phase_rules: dict[Phase, dict[str, RuleSpec]] = {}
    for phase_name, phase_raw in phases_raw.items():
        path = f"phases.{phase_name}"
        try:
            phase = Phase(phase_name)
        except ValueError:
            raise lines.error(path, f"unknown phase; use {', '.join(p.value for p in Phase)}") from None
        phase_table = _table(phase_raw, path, lines)
        _unknown(phase_table, ("rules",), path, lines)
        changes = _table(phase_table.get("rules", {}), f"{path}.rules", lines)
        for rule_id, raw in changes.items():
            if not _RULE_ID.match(rule_id):
                raise lines.error(f"{path}.rules.{rule_id}", "a rule id is lower-case letters, digits and _")
            phase_rules.setdefault(phase, {})[rule_id] = _rule(
                rule_id, raw, f"{path}.rules.{rule_id}", lines, by_id.get(rule_id)
            )

    profile = AlarmProfile(
        name=name,
        source=source,
        rules=tuple(rules),
        phase_rules=_freeze_phases(phase_rules),
        no_data_s=MappingProxyType(no_data),
        technical=MappingProxyType(technical),
        description=description,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        end_margin=MappingProxyType(end_margin),
        worsen_step=MappingProxyType(worsen_step),
        nibp_confirm=confirm_enabled,
        nibp_confirm_after_s=confirm_after,
        care=care,
        allow_disabled=frozenset(allow_disabled),
        **timing,
    )
    _check_sense(profile, lines)
    return profile


def load_profile(path: str | Path) -> AlarmProfile:
    """Read a profile file; unreadable or invalid files raise :class:`ProfileError`."""
    path, text = read_clinic_file(path, "the alarm profile", ProfileError)
    return parse_profile(text, str(path))


def default_profile_text() -> str:
    """The text of the profile shipped with the app."""
    return resources.files("monitor.alarms").joinpath(DEFAULT_PROFILE_NAME).read_text(encoding="utf-8")


def default_profile() -> AlarmProfile:
    """The profile shipped with the app (CLINICAL.md defaults)."""
    return parse_profile(default_profile_text(), "default profile")


class ProfileHolder:
    """Keeps the last valid profile: a failed load leaves the current one in force."""

    def __init__(self, profile: AlarmProfile | None = None) -> None:
        self.profile = profile or default_profile()
        self.last_error: str | None = None

    def load(self, path: str | Path) -> AlarmProfile:
        """Switch to the profile in ``path``; on error keep the current one and re-raise."""
        try:
            self.profile = load_profile(path)
        except ProfileError as exc:
            self.last_error = str(exc)
            raise
        self.last_error = None
        return self.profile


def resolve_profile(flag_value: str | None, user_values: Mapping[str, Any] | None = None) -> Path | None:
    """The profile file to use: ``--profile``, then INFUSION_MONITOR_PROFILE, then config ``profile``."""
    try:
        value = flag_value or environment("profile") or (user_values or {}).get("profile")
    except ConfigError as exc:
        raise ProfileError(str(exc)) from None
    if not value:
        return None
    try:
        return Path(str(value)).expanduser()
    except RuntimeError:  # "~someone" for a user this computer does not know
        raise ProfileError(f"profile: cannot find the home folder in '{value}'") from None


def _rule_line(rule: RuleSpec) -> str:
    delay = f"{rule.delay_s:g} s" if rule.delay_s else "none"
    state = "" if rule.enabled else "  (off)"
    return f"  {rule.id:26} {rule.describe():36} {rule.priority.label:8} {delay}{state}"


def describe_profile(profile: AlarmProfile) -> str:
    """The active limits as a nurse or a medical director reads them (``infusion-monitor limits``)."""
    out = [f"alarm profile: {profile.name} ({profile.source})"]
    if profile.description:
        out.append(f"  {profile.description}")
    out.append("")
    out.append(f"  {'rule':26} {'condition':36} {'priority':8} delay")
    out += [_rule_line(rule) for rule in profile.rules]
    for phase in Phase:
        changes = profile.phase_rules.get(phase)
        if changes:
            out.append(f" in the {phase.value} phase:")
            out += [_rule_line(rule) for rule in changes.values()]
    out.append("")
    out.append(
        "  heart_rate is ECG hr where present, else pulse rate pr; "
        "NIBP alarms ask for a confirming measurement."
    )
    out.append(
        "  Absolute limits apply in every phase from the first reading; baseline limits once it is taken."
    )
    out.append("")
    out.append(
        f"  audio pause {profile.audio_pause_s:g} s; unacknowledged medium -> high after "
        f"{profile.escalate_medium_after_s:g} s; lost data during infusion -> high after "
        f"{profile.lost_data_escalate_after_s:g} s; an infusion paused for "
        f"{profile.infusion_paused_remind_s / 60:g} min -> reminder"
    )
    out.append(
        f"  condition window {profile.window_factor:g} x the delay; an alarm ends after {profile.end_hold_s:g} s "
        "back within its limit by " + ", ".join(f"{k} {v:g}" for k, v in profile.end_margin.items())
    )
    confirm = f"after {profile.nibp_confirm_after_s:g} s" if profile.nibp_confirm else "off"
    out.append(f"  confirming cuff after a BP alarm: {confirm}")
    care = profile.care
    out.append(
        f"  infusion start: baseline at least {care.baseline_min_s / 60:g} min, hold at BP >= "
        f"{care.hold_sys:g}/{care.hold_dia:g}; discharge: cuff at most {care.discharge_nibp_max_age_s / 60:g} min "
        f"old, SpO2 at most {care.discharge_spo2_max_age_s:g} s old (a session's protocol sets its own baseline "
        "minimum and cuff age: `infusion-monitor protocols show`)"
    )
    if profile.allow_disabled:
        out.append("  high-priority rules allowed off: " + ", ".join(sorted(profile.allow_disabled)))
    out.append("  no data after: " + ", ".join(f"{k} {v:g} s" for k, v in profile.no_data_s.items()))
    out.append("  technical priorities: " + ", ".join(f"{k} {v.label}" for k, v in profile.technical.items()))
    return "\n".join(out) + "\n"
