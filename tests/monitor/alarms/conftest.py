"""A bedside for alarm tests: a session and an engine fed readings on a simulated clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import AlarmRecord, AlarmSnapshot
from monitor.alarms.profile import AlarmProfile
from monitor.session import Session

T0 = 1_700_000_000.0

#: What every alarm carries, in the store's rows and in the JSON export alike.
ALARM_FIELDS = frozenset({
    "condition",
    "parameter",
    "priority",
    "kind",
    "started_at",
    "ended_at",
    "limit",
    "peak_value",
    "escalations",
    "acknowledged_at",
    "acknowledged_by",
})


class Bed:
    """Feeds readings, events and ticks to an :class:`AlarmEngine` the way the recorder does."""

    def __init__(self, profile: AlarmProfile | None = None) -> None:
        counter = itertools.count(1)
        self.session = Session("test-session", T0)
        self.engine = AlarmEngine(profile, new_id=lambda: f"alarm-{next(counter)}")
        self.now = T0
        self.rows: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []

    # -- feeding ---------------------------------------------------------------------------

    def reading(
        self, parameter: str, value: float | None, t: float | None = None, flags: Iterable[Flag] = ()
    ) -> Reading:
        """One reading through session and engine, then a tick at its time."""
        at = self.now if t is None else t
        r = Reading(at, Parameter(parameter), value, "test", frozenset(flags))
        self.session.observe(r)
        self.engine.observe(r, self.session)
        self.tick(at)
        return r

    def decoded(self, readings: Iterable[Reading], at: float) -> None:
        """Readings a decoder gave (its own times and flags) through session and engine, then a tick at ``at``."""
        for r in readings:
            if r.parameter is not Parameter.PLETH:
                self.session.observe(r)
                self.engine.observe(r, self.session)
        self.tick(at)

    def hold(self, parameter: str, value: float | None, seconds: float, flags: Iterable[Flag] = ()) -> None:
        """Readings once a second from now to now + seconds inclusive; the clock ends 1 s later."""
        start = self.now
        for i in range(int(seconds) + 1):
            self.reading(parameter, value, start + i, flags)
        self.now = start + int(seconds) + 1

    def recover(self, parameter: str, value: float) -> float:
        """Valid readings back within the limit until an alarm may end (5 s hold; a cuff at once).

        Returns the time of the last reading (when the condition ends); the clock stays there.
        """
        seconds = 0 if parameter.startswith("nibp") else int(self.engine.profile.end_hold_s)
        start = self.now
        for i in range(seconds + 1):
            self.reading(parameter, value, start + i)
        return start + seconds

    def tick(self, t: float) -> None:
        """Advance the clock: session, engine tick, timeline events, alarm changes."""
        self.now = max(self.now, t)
        self.session.advance(self.now)
        self.engine.tick(self.now, self.session)
        self.events()

    def wait(self, seconds: float) -> None:
        """Let time pass without readings, ticking every second."""
        end = self.now + seconds
        while self.now < end:
            self.tick(min(end, self.now + 1.0))

    def events(self) -> None:
        """Hand the session's new timeline events to the engine, and collect alarm changes."""
        for event in self.session.take_events():
            self.engine.on_event(event, self.session)
        for row in self.engine.take_changes():
            self.rows[row.id] = row
            self.history.append(row)

    def command(self, name: str, user: str | None = "RN", **args: Any) -> Any:
        """A user command at the current time."""
        result = self.engine.command(name, self.now, user, **args)
        self.events()
        return result

    def report(self, name: str, **args: Any) -> None:
        """The monitor's own news (storage, screen, cuff) at the current time."""
        self.engine.report(name, self.now, **args)
        self.events()

    # -- phases ------------------------------------------------------------------------------

    def take_baseline(self, hr: float = 70, spo2: float = 98, sys: float = 120, dia: float = 80) -> None:
        """Baseline phase with one full set of vitals, then the infusion starts."""
        self.session.start_baseline(self.now, "RN")
        self.events()
        for parameter, value in (("hr", hr), ("spo2", spo2), ("nibp_sys", sys), ("nibp_dia", dia)):
            self.reading(parameter, value)
        self.now += 1
        self.session.start_infusion(self.now, "RN")
        self.events()

    # -- looking -------------------------------------------------------------------------------

    def snapshot(self) -> AlarmSnapshot:
        """The display state now."""
        return self.engine.snapshot(self.now)

    def shown(self, condition: str) -> AlarmRecord | None:
        """The alarm of that condition on screen, if any."""
        return next((a for a in self.snapshot().active if a.condition == condition), None)

    def logged(self, condition: str) -> list[dict[str, Any]]:
        """Latest log rows of every alarm with that condition, oldest first."""
        return sorted(
            (r for r in self.rows.values() if r.condition == condition), key=lambda r: r.started_at
        )


@pytest.fixture
def bed() -> Bed:
    """A bed with the default profile."""
    return Bed()


@pytest.fixture
def make_bed() -> type[Bed]:
    """Build a bed with a profile of the test's own: ``make_bed(profile)``."""
    return Bed
