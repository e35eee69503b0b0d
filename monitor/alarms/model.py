"""Alarm data shared by the engine, the store, the recorder, the screen and the exports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any


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


class AlarmState(StrEnum):
    """Where an alarm is in its life (the word the log stores)."""

    #: The condition is present.
    ACTIVE = "active"
    #: A high-priority physiological alarm whose condition is over, kept until acknowledged.
    LATCHED = "latched"
    #: Over and off the screen.
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Escalation:
    """One change of an alarm's priority (or its sounding again at the same priority), and why."""

    at: float
    from_priority: Priority
    to: Priority
    reason: str

    def as_dict(self) -> dict[str, object]:
        """The stored form: ``{"at", "from", "to", "reason"}`` with priority words."""
        return {"at": self.at, "from": self.from_priority.label, "to": self.to.label, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Escalation:
        """The inverse of :meth:`as_dict`."""
        return cls(float(data["at"]), Priority.parse(str(data["from"])), Priority.parse(str(data["to"])),
                   str(data.get("reason") or ""))


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """One alarm at one moment: the only shape an alarm has outside the engine.

    The engine gives one at every change (:meth:`~monitor.alarms.engine.AlarmEngine.take_changes`) and
    one per alarm on screen (:meth:`~monitor.alarms.engine.AlarmEngine.snapshot`); the store writes its
    log fields and reads them back (:meth:`monitor.store.Store.alarms`); the terminal, the windows and
    the exports show it. The fields after ``state`` describe the alarm while it is on screen and are
    not stored (a record read from the log has their defaults).
    """

    id: str
    condition: str
    parameter: str | None
    priority: Priority
    kind: AlarmKind
    message: str
    started_at: float
    ended_at: float | None = None
    limit: float | None = None
    #: Worst value of the alarm so far.
    peak_value: float | None = None
    escalations: tuple[Escalation, ...] = ()
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    state: AlarmState = AlarmState.ACTIVE
    #: The value that raised it, and the newest value (None: see ``value_available``).
    value: float | None = None
    current: float | None = None
    #: False while the device sends no usable value for the alarm's parameter.
    value_available: bool = True
    #: Quiet because acknowledged, until its priority rises or its value gets worse.
    silenced: bool = False
    #: The text on screen (worst and current value) when it differs from ``message``.
    display: str = ""
    #: Carried over from before the recording was interrupted: its condition has not been judged since.
    carried: bool = False

    @property
    def latched(self) -> bool:
        """The condition is over but the alarm stays until acknowledged."""
        return self.state is AlarmState.LATCHED

    @property
    def escalated(self) -> bool:
        """Its priority changed (or it sounded again) since it started."""
        return bool(self.escalations)

    @property
    def shown(self) -> str:
        """The message as the screen shows it."""
        return self.display or self.message

    @property
    def text(self) -> str:
        """The screen text with its priority marker, e.g. ``*** SpO2 86 < 90``."""
        return f"{self.priority.marker} {self.shown}"


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

    active: tuple[AlarmRecord, ...]  # highest priority first, then oldest first
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

