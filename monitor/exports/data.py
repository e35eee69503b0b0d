"""Everything an export needs about one session, loaded once, optionally de-identified."""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from typing import Any

from monitor.readings import Reading
from monitor.session import PHASE_START_EVENT, Phase, SessionEvent
from monitor.store import Store, StoredAlarm

_START_KINDS = {kind: phase for phase, kind in PHASE_START_EVENT.items()}


@dataclass(frozen=True)
class SessionRecord:
    """A stored session with its patient, readings, events and alarms."""

    session: dict[str, Any]
    patient: dict[str, Any] | None
    readings: tuple[Reading, ...]
    events: tuple[SessionEvent, ...]
    alarms: tuple[StoredAlarm, ...]
    deidentified: bool = False

    @property
    def id(self) -> str:
        """The session's random id."""
        return str(self.session["id"])

    @property
    def started_at(self) -> float:
        """Session start (UTC epoch seconds)."""
        return float(self.session["started_at"])

    def phase_at(self) -> PhaseLookup:
        """A function-like object giving the phase at a time."""
        return PhaseLookup(self.events)

    @property
    def baseline(self) -> dict[str, Any] | None:
        """Stored baseline values, if one was taken."""
        raw = self.session.get("baseline")
        return json.loads(raw) if raw else None


class PhaseLookup:
    """Phase at a moment, from the phase-start events of the timeline."""

    def __init__(self, events: tuple[SessionEvent, ...]) -> None:
        starts = sorted((e.t, _START_KINDS[e.kind]) for e in events if e.kind in _START_KINDS)
        self.times = [t for t, _ in starts]
        self.phases = [p for _, p in starts]

    def __call__(self, t: float) -> Phase:
        index = bisect.bisect_right(self.times, t) - 1
        return self.phases[index] if index >= 0 else Phase.SETUP


def load(store: Store, session_id: str, *, deidentify: bool = False) -> SessionRecord:
    """Read a whole session from the store."""
    row = dict(store.session_row(session_id))
    row["status"] = store.status_of(row)
    patient = store.patient_row(row.get("patient_id"))
    if deidentify:
        patient = None
        row["device"] = None
        row["patient_id"] = None
    return SessionRecord(
        session=row,
        patient=patient,
        readings=tuple(store.readings(row["id"])),
        events=tuple(store.events(row["id"])),
        alarms=tuple(store.alarms(row["id"])),
        deidentified=deidentify,
    )
