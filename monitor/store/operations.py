"""What a recording hands its store writer to write, in order: reading batches, audit entries, store calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.core.readings import Reading
from monitor.alarms.model import AlarmRecord
from monitor.session import SessionEvent
from monitor.store.database import Store


@dataclass(frozen=True, slots=True)
class Batch:
    """Readings, events, alarm changes and session-row changes of one hand-over, written together."""

    readings: tuple[Reading, ...] = ()
    events: tuple[SessionEvent, ...] = ()
    alarms: tuple[AlarmRecord, ...] = ()
    session_update: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> int:
        """How many rows this batch adds (waveform samples count one each)."""
        return len(self.readings) + len(self.events) + len(self.alarms) + (1 if self.session_update else 0)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit-log line, stamped when the action happened, not when it reached the disk."""

    at: float
    action: str
    user: str | None
    session_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> int:
        """Always one row."""
        return 1


@dataclass(frozen=True, slots=True)
class StoreCall:
    """A store method to run in order with the rest (e.g. ``end_session``, ``assign_patient``)."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> int:
        """Always one row."""
        return 1


Operation = Batch | AuditEntry | StoreCall


def apply_operation(store: Store, session_id: str, op: Operation) -> None:
    """Write one operation into ``store`` (inside the caller's transaction)."""
    if isinstance(op, Batch):
        store.write_batch(session_id, readings=op.readings, events=op.events, alarms=op.alarms,
                          session_update=op.session_update)
    elif isinstance(op, AuditEntry):
        store.audit(op.action, user=op.user, session_id=op.session_id, at=op.at, **op.detail)
    else:
        getattr(store, op.method)(*op.args, **op.kwargs)
