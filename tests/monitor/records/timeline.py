"""A hand-built session timeline for checking review and discharge arithmetic exactly."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from drivers.core.readings import Reading
from monitor.exports.data import SessionRecord
from monitor.session import EventKind, Phase, SessionEvent

BASELINE: dict[str, Any] = {
    "taken_at": 300.0,
    "heart_rate": 70.0,
    "heart_rate_parameter": "hr",
    "spo2": 98.0,
    "nibp_sys": 120.0,
    "nibp_dia": 80.0,
    "nibp_mean": 93.0,
}


def synthetic_record(readings: Sequence[Reading]) -> SessionRecord:
    """Baseline 0-300 s, infusion 300-1800 s, recovery 1800-3600 s, complete at 3600 s."""
    events = (
        SessionEvent(0.0, EventKind.BASELINE_STARTED, Phase.BASELINE),
        SessionEvent(300.0, EventKind.BASELINE_TAKEN, Phase.BASELINE, detail=BASELINE),
        SessionEvent(300.0, EventKind.INFUSION_STARTED, Phase.INFUSION),
        SessionEvent(1800.0, EventKind.INFUSION_STOPPED, Phase.INFUSION),
        SessionEvent(1800.0, EventKind.RECOVERY_STARTED, Phase.RECOVERY),
        SessionEvent(3600.0, EventKind.SESSION_COMPLETED, Phase.COMPLETE),
    )
    session = {
        "id": "synthetic",
        "started_at": 0.0,
        "ended_at": 3600.0,
        "status": "complete",
        "baseline": json.dumps(BASELINE),
        "phases_reached": "[]",
    }
    return SessionRecord(
        session=session,
        patient=None,
        readings=tuple(sorted(readings, key=lambda r: r.t)),
        events=events,
        alarms=(),
    )
