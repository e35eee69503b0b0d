"""Alarm data shared by the engine, the store, the recorder and the screen."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Priority(IntEnum):
    """IEC 60601-1-8 priorities; a larger number is more urgent."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        """Lower-case name used in storage and exports."""
        return self.name.lower()

    @property
    def marker(self) -> str:
        """Text prefix: *** high, ** medium, * low."""
        return "*" * int(self)

    @classmethod
    def parse(cls, text: str) -> Priority:
        """From ``high``/``medium``/``low``."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown priority '{text}'; use high, medium or low") from None


class AlarmKind(StrEnum):
    """Physiological (from a vital sign) or technical (from the equipment)."""

    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    """An alarm as the screen shows it."""

    id: str
    condition: str
    parameter: str | None
    priority: Priority
    kind: AlarmKind
    message: str
    started_at: float
    value: float | None
    limit: float | None
    #: The condition is over but the alarm stays until acknowledged.
    latched: bool
    acknowledged: bool
    escalated: bool
    #: Worst value of the alarm so far; the newest value (None: see ``value_available``).
    peak_value: float | None = None
    current: float | None = None
    #: False while the device sends no usable value for the alarm's parameter.
    value_available: bool = True

    @property
    def text(self) -> str:
        """Message with its priority marker, e.g. ``*** SpO2 86 < 90``."""
        return f"{self.priority.marker} {self.message}"


@dataclass(frozen=True, slots=True)
class LimitLine:
    """One alarm limit in force, in the parameter's unit, for drawing on a chart."""

    condition: str
    parameter: str
    value: float
    priority: Priority
    #: ``<``, ``≤``, ``>`` or ``≥``: which side of the line alarms.
    operator: str


@dataclass(frozen=True, slots=True)
class AlarmSnapshot:
    """Everything the alarm display needs at one moment."""

    active: tuple[ActiveAlarm, ...]  # highest priority first, then oldest first
    audio_paused_until: float | None
    audio_off: bool
    alarms_off: bool
    #: Priority whose sound pattern should be playing now (None: silent).
    sounding: Priority | None
    #: Limits in force in the current phase (baseline-relative ones once the baseline exists).
    limits: tuple[LimitLine, ...] = ()

    @property
    def highest(self) -> Priority | None:
        """Most urgent active priority."""
        return max((a.priority for a in self.active), default=None)

