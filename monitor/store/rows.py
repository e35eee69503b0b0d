"""Payloads to table rows and back: the only place that knows how an alarm or a waveform block is stored."""

from __future__ import annotations

import json
from array import array
from collections.abc import Mapping
from typing import Any

from drivers.core.readings import PLETH_RATE_HZ, Flag, Reading, flags_text
from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmState, Escalation, Priority


def alarm_row(alarm: AlarmRecord) -> dict[str, Any]:
    """The ``alarms`` table row of an alarm (its log fields; escalations as JSON)."""
    return {
        "id": alarm.id,
        "condition": alarm.condition,
        "parameter": alarm.parameter,
        "priority": alarm.priority.label,
        "kind": alarm.kind.value,
        "started_at": alarm.started_at,
        "ended_at": alarm.ended_at,
        "limit": alarm.limit,
        "peak_value": alarm.peak_value,
        "escalations": json.dumps([step.as_dict() for step in alarm.escalations]),
        "acknowledged_at": alarm.acknowledged_at,
        "acknowledged_by": alarm.acknowledged_by,
        "message": alarm.message,
        "state": alarm.state.value,
    }


def alarm_from_row(row: Mapping[str, Any]) -> AlarmRecord:
    """An alarm from its ``alarms`` row (the inverse of :func:`alarm_row`; also the server's rows).

    A row whose priority, kind or escalations cannot be read is refused with its id named
    (:class:`ValueError`); a missing or unknown state is read as still active, so a resumed
    recording closes it and a review says so, as for any alarm left open.
    """
    try:
        priority = Priority.parse(str(row["priority"]))
        kind = AlarmKind(row["kind"])
        escalations = tuple(Escalation.from_dict(step) for step in json.loads(row["escalations"] or "[]"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"alarm {row['id']} cannot be read from the alarm log: {exc}") from None
    try:
        state = AlarmState(row["state"])
    except ValueError:
        state = AlarmState.ACTIVE
    return AlarmRecord(
        id=row["id"],
        condition=row["condition"],
        parameter=row["parameter"],
        priority=priority,
        kind=kind,
        message=row["message"] or "",
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        limit=row["limit"],
        peak_value=row["peak_value"],
        escalations=escalations,
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        state=state,
    )


def waveform_row(session_id: str, parameter: str, source: str, samples: list[Reading]) -> tuple[Any, ...]:
    """The ``waveforms`` row of one block of samples of one source (rate from their times)."""
    t0 = samples[0].t
    rate = (len(samples) - 1) / max(samples[-1].t - t0, 1e-6) if len(samples) > 1 else PLETH_RATE_HZ
    values = array("f", [s.value if s.value is not None else float("nan") for s in samples])
    flags: set[Flag] = set()
    for s in samples:
        flags |= s.flags
    return (session_id, parameter, t0, rate, len(samples), values.tobytes(), source, flags_text(frozenset(flags)))
