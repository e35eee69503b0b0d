"""The chair's live status as the nurse station receives it: one small JSON document per chair.

The chair builds it from each :class:`~monitor.recorder.RecorderUpdate` (:func:`live_document`);
the station reads it back into a :class:`LiveTile` (:func:`parse_tile`). Times are the chair's
clock (``now`` is when the chair made the document), so the station measures ages against
``now`` rather than against its own clock.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from drivers.core.readings import Parameter
from monitor.session import Phase

#: The values a tile shows (the station reads the same of a session from the server when its chair's status is missing).
SHOWN = (Parameter.HR, Parameter.PR, Parameter.SPO2, Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN)


@dataclass(frozen=True, slots=True)
class LiveAlarm:
    """One alarm active at a chair."""

    id: str
    condition: str
    priority: int  # 1 low, 2 medium, 3 high (IEC 60601-1-8)
    kind: str
    message: str
    started_at: float
    acknowledged: bool
    latched: bool


@dataclass(frozen=True, slots=True)
class NotKept:
    """Rows of a chair's ended session that never reached its database (its disk failed), so not the server
    either: where they wait until ``write-held`` puts them in."""

    rows: int
    #: The recovery file on the chair's computer (empty: no file could be written; the rows are lost).
    file: str
    #: The chair computer's host name.
    host: str


@dataclass(frozen=True, slots=True)
class LiveTile:
    """What one chair last said about its session."""

    active: bool
    session_id: str | None
    now: float
    phase: str
    elapsed_s: float
    infusion_elapsed_s: float
    infusion_plan_min: float
    recovery_remaining_s: float | None
    values: dict[str, float | None]
    value_times: dict[str, float]
    heart_rate_source: str | None
    nibp_age_s: float | None
    alarms: tuple[LiveAlarm, ...]
    storage_ok: bool
    device_link: str
    #: Scales the session's protocol asks for now (``SessionStatus.scores_due``).
    scores_due: tuple[str, ...] = ()
    #: What the session's protocol calls the phase (``SessionStatus.phase_label``); empty from older chairs.
    phase_label: str = ""
    #: An ended session's rows the chair could not keep in its database (None: everything was kept).
    not_kept: NotKept | None = None
    #: The drug stopped before the infusion phase ended, or paused now (False from older chairs).
    infusion_stopped: bool = False
    infusion_paused: bool = False

    @property
    def phase_name(self) -> str:
        """The phase as the chair's protocol names it (its plain name when the chair did not say)."""
        return self.phase_label or self.phase


def live_document(update: Any) -> dict[str, Any]:
    """The JSON-ready live status of a chair from one recorder update."""
    status = update.status
    values: dict[str, float | None] = {}
    times: dict[str, float] = {}
    for reading in status.latest:
        if reading.parameter in SHOWN:
            values[reading.parameter.value] = reading.value
            times[reading.parameter.value] = reading.t
    hr = status.heart_rate
    alarms = []
    snapshot = update.alarms
    for alarm in getattr(snapshot, "active", ()):
        alarms.append(
            {
                "id": alarm.id,
                "condition": alarm.condition,
                "priority": int(alarm.priority),
                "kind": str(alarm.kind),
                "message": alarm.shown,
                "started_at": alarm.started_at,
                "acknowledged": alarm.silenced,
                "latched": alarm.latched,
            }
        )
    return {
        # A completed session is no longer live: its tile leaves the station (kept "active", the chair's window
        # left open between patients was called "MONITORING STALLED" a few seconds later, for every chair).
        "active": status.phase is not Phase.COMPLETE,
        "session_id": status.session_id,
        "now": status.now,
        "phase": status.phase.value,
        "phase_label": status.phase_label,
        "elapsed_s": status.elapsed_s,
        "infusion_elapsed_s": status.infusion_elapsed_s,
        "infusion_plan_min": status.infusion_plan_min,
        "recovery_remaining_s": status.recovery_remaining_s,
        "values": values,
        "value_times": times,
        "heart_rate": None if hr is None else hr.value,
        "heart_rate_source": None if hr is None else hr.parameter.value,
        "nibp_age_s": status.nibp_age_s,
        "alarms": alarms,
        "storage_ok": status.storage_ok,
        "device_link": status.link.state,
        "scores_due": list(status.scores_due),
        "infusion_stopped": status.infusion_stopped,
        "infusion_paused": status.infusion_paused,
    }


def not_kept_document(rows: int, file: str | None) -> dict[str, Any]:
    """What the last live status of a session says of ``rows`` its chair could not write to its database, kept
    in the recovery ``file`` (None: nowhere); empty when every row was written."""
    if rows <= 0:
        return {}
    return {"not_kept": {"rows": rows, "file": file or "", "host": socket.gethostname()}}


def _not_kept(value: Any) -> NotKept | None:
    if not value:
        return None
    return NotKept(int(value["rows"]), str(value.get("file") or ""), str(value.get("host") or ""))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def parse_tile(document: dict[str, Any]) -> LiveTile:
    """Read a chair's live document (missing fields take neutral values; a bad one raises ValueError)."""
    try:
        values = {str(k): _number(v) for k, v in dict(document.get("values") or {}).items()}
        alarms = tuple(
            LiveAlarm(
                id=str(a["id"]),
                condition=str(a.get("condition", "")),
                priority=int(a.get("priority", 1)),
                kind=str(a.get("kind", "")),
                message=str(a.get("message", "")),
                started_at=float(a["started_at"]),
                acknowledged=bool(a.get("acknowledged")),
                latched=bool(a.get("latched")),
            )
            for a in document.get("alarms") or ()
        )
        return LiveTile(
            active=bool(document.get("active", True)),
            session_id=document.get("session_id"),
            now=float(document.get("now") or 0.0),
            phase=str(document.get("phase") or ""),
            elapsed_s=float(document.get("elapsed_s") or 0.0),
            infusion_elapsed_s=float(document.get("infusion_elapsed_s") or 0.0),
            infusion_plan_min=float(document.get("infusion_plan_min") or 0.0),
            recovery_remaining_s=_number(document.get("recovery_remaining_s")),
            values=values,
            value_times={str(k): float(v) for k, v in dict(document.get("value_times") or {}).items()},
            heart_rate_source=document.get("heart_rate_source"),
            nibp_age_s=_number(document.get("nibp_age_s")),
            alarms=alarms,
            storage_ok=bool(document.get("storage_ok", True)),
            device_link=str(document.get("device_link") or ""),
            scores_due=tuple(str(scale) for scale in document.get("scores_due") or ()),
            phase_label=str(document.get("phase_label") or ""),
            not_kept=_not_kept(document.get("not_kept")),
            infusion_stopped=bool(document.get("infusion_stopped")),
            infusion_paused=bool(document.get("infusion_paused")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"unreadable live status: {exc}") from exc
