"""JSON: {"session", "treatment", "readings", "alarms", "events"}; times are ISO 8601 with UTC offset.

``treatment`` holds the protocol, the pre-infusion checklist, the dose (plan, rate changes,
delivered total), interventions, PHQ-9/GAD-7 and, for esketamine, the REMS monitoring form.
"""

from __future__ import annotations

import json
from typing import IO, Any

from drivers.core.readings import iso_utc
from monitor.exports.data import SessionRecord
from monitor.exports.treatment import summary
from monitor.store import alarm_row


def _time(t: float | None) -> str | None:
    return None if t is None else iso_utc(t)


def document(record: SessionRecord) -> dict[str, Any]:
    """The export as plain data."""
    s = record.session
    session = {
        "id": record.id,
        "patient": None if record.patient is None else {
            "mrn": record.patient.get("mrn"),
            "name": record.patient.get("name"),
            "birth_date": record.patient.get("birth_date"),
        },
        "started_at": _time(s["started_at"]),
        "ended_at": _time(s.get("ended_at")),
        "status": s["status"],
        "phase": s["phase"],
        "phases_reached": json.loads(s.get("phases_reached") or "[]"),
        "driver": s.get("driver"),
        "device": s.get("device"),
        "plan": s.get("plan"),
        "protocol": s.get("protocol"),
        # De-identification has already removed the nurse unless staff names were kept.
        "nurse": s.get("nurse"),
        "relative_time": record.relative_time,
        "baseline": record.baseline,
        "deidentified": record.deidentified,
        "alarm_profile": record.alarm_profile,
        "verification": record.verification,
    }
    readings = [
        {"t": iso_utc(r.t), "parameter": r.parameter.value, "value": r.value, "unit": r.unit, "status": r.status}
        for r in record.readings
    ]
    alarms = []
    for a in record.alarms:
        item: dict[str, Any] = alarm_row(a)
        for key in ("started_at", "ended_at", "acknowledged_at"):
            item[key] = _time(item[key])
        # Escalation times are stored as epoch seconds; the export speaks ISO 8601 throughout.
        item["escalations"] = [dict(step.as_dict(), at=_time(step.at)) for step in a.escalations]
        alarms.append(item)
    events = [
        {"t": iso_utc(e.t), "kind": e.kind.value, "phase": e.phase.value, "user": e.user, "detail": dict(e.detail)}
        for e in record.events
    ]
    treatment = summary(record).as_dict(iso_utc)
    return {"session": session, "treatment": treatment, "readings": readings, "alarms": alarms, "events": events}


def write(record: SessionRecord, stream: IO[str]) -> None:
    """Write the export as indented JSON."""
    json.dump(document(record), stream, indent=1, default=str)
    stream.write("\n")
