"""JSON: {"session", "treatment", "readings", "alarms", "events"}; times are ISO 8601 with UTC offset.

``treatment`` holds the protocol, the pre-infusion checklist, the dose (plan, rate changes,
delivered total), interventions, PHQ-9/GAD-7 and, for esketamine, the REMS monitoring form.

:func:`write` streams the readings: each is written as it is read from the store, in exactly the
bytes ``json.dump(document(record), indent=1)`` gives, so a 24-hour session is never held whole.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from typing import IO, Any, Final

from drivers.core.readings import Flag, Parameter, Reading, iso_utc
from monitor.entered_in_error import is_withdrawn, shown_value, superseded
from monitor.exports.data import SessionRecord
from monitor.exports.deferred import body_first
from monitor.exports.treatment import summary
from monitor.sign_off import sign_offs
from monitor.store import alarm_row


def _time(t: float | None) -> str | None:
    return None if t is None else iso_utc(t)


#: The document's keys in the order they are written.
KEYS: Final = ("session", "treatment", "readings", "alarms", "events")


def document(record: SessionRecord) -> dict[str, Any]:
    """The export as plain data (the readings all in memory: for small sessions and tests)."""
    parts = small_parts(record)
    readings = [
        {"t": iso_utc(r.t), "parameter": r.parameter.value, "value": r.value, "unit": r.unit, "status": r.status}
        for r in record.readings
    ]
    return {key: readings if key == "readings" else parts[key] for key in KEYS}


def small_parts(record: SessionRecord) -> dict[str, Any]:
    """Everything of the export but the readings, as plain data."""
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
        "baseline": None if record.baseline is None else dict(
            record.baseline, taken_at=_time(record.baseline.get("taken_at"))),
        "deidentified": record.deidentified,
        "alarm_profile": record.alarm_profile,
        "verification": record.verification,
        # The physicians who signed the record off, first to last (empty: nobody yet); each is on the timeline too.
        "sign_offs": [{"at": iso_utc(o.t), "by": None if o.by == "?" else o.by, "role": o.role, "comment": o.comment}
                      for o in sign_offs(record.events)],
    }
    alarms = []
    for a in record.alarms:
        item: dict[str, Any] = alarm_row(a)
        for key in ("started_at", "ended_at", "acknowledged_at"):
            item[key] = _time(item[key])
        # Escalation times are stored as epoch seconds; the export speaks ISO 8601 throughout.
        item["escalations"] = [dict(step.as_dict(), at=_time(step.at)) for step in a.escalations]
        alarms.append(item)
    events: list[dict[str, Any]] = [
        {"t": iso_utc(e.t), "kind": e.kind.value, "phase": e.phase.value, "user": e.user, "detail": dict(e.detail)}
        for e in record.events
    ]
    for index, by in superseded(record.events).items():
        # An entry in error: kept, and said to be superseded by the correction that follows it (the value it was
        # corrected to; a withdrawn one says so).
        events[index]["superseded_by"] = {"t": iso_utc(by.t), "user": by.user, "value": shown_value(by),
                                          "reason": by.detail.get("correction_reason")}
        if is_withdrawn(by.detail):
            events[index]["superseded_by"]["withdrawn"] = True
    treatment = summary(record).as_dict(iso_utc)
    return {"session": session, "treatment": treatment, "alarms": alarms, "events": events}


def _indented(text: str, levels: int) -> str:
    """JSON text from ``json.dumps(indent=1)`` as it reads nested ``levels`` deep (JSON strings hold no newline)."""
    return text.replace("\n", "\n" + " " * levels)


def _number(value: Any) -> str:
    """A reading's value as ``json.dumps`` writes it."""
    if type(value) is float and math.isfinite(value):
        return repr(value)
    return json.dumps(value)


def _reading_texts(record: SessionRecord) -> Iterator[str]:
    """Each reading as the indented JSON object ``json.dump(..., indent=1)`` writes in the readings list."""
    quoted: dict[str, str] = {}  # parameter, unit and status texts repeat: quote each once

    def quote(text: str) -> str:
        found = quoted.get(text)
        if found is None:
            found = quoted[text] = json.dumps(text)
        return found

    statuses: dict[frozenset[Flag], str] = {}

    def status_of(r: Reading) -> str:
        found = statuses[r.flags] = quote(r.status)
        return found

    # What comes between the time and the value, and between the value and the status, per parameter.
    pieces: dict[Parameter, tuple[str, str]] = {}

    def pieces_of(r: Reading) -> tuple[str, str]:
        found = pieces[r.parameter] = (f',\n   "parameter": {quote(r.parameter.value)},\n   "value": ',
                                       f',\n   "unit": {quote(r.unit)},\n   "status": ')
        return found

    last_t: float | None = None
    stamp = ""
    for r in record.readings:
        if r.t != last_t:
            last_t, stamp = r.t, '{\n   "t": ' + json.dumps(iso_utc(r.t))
        before_value, before_status = pieces.get(r.parameter) or pieces_of(r)
        yield (stamp + before_value + _number(r.value) + before_status + (statuses.get(r.flags) or status_of(r))
               + "\n  }")


def write(record: SessionRecord, stream: IO[str]) -> None:
    """Write the export as indented JSON, the readings as they are read."""
    write_head(record, stream)
    write_body(record, stream)


#: Keys written before the readings (the session states whether the record verified) and from them on.
_HEAD_KEYS: Final = KEYS[:KEYS.index("readings")]
_BODY_KEYS: Final = KEYS[KEYS.index("readings"):]


def write_head(record: SessionRecord, stream: IO[str]) -> None:
    """The document's opening and the parts before the readings."""
    parts = small_parts(record)
    stream.write("{")
    for index, key in enumerate(_HEAD_KEYS):
        stream.write(("," if index else "") + "\n " + json.dumps(key) + ": ")
        stream.write(_indented(json.dumps(parts[key], indent=1, default=str), 1))


def write_body(record: SessionRecord, stream: IO[str]) -> None:
    """The readings, as they are read, and the parts after them, to the document's end."""
    parts = small_parts(record)
    for key in _BODY_KEYS:
        stream.write(",\n " + json.dumps(key) + ": ")
        if key != "readings":
            stream.write(_indented(json.dumps(parts[key], indent=1, default=str), 1))
            continue
        texts = _reading_texts(record)
        first = next(texts, None)
        if first is None:
            stream.write("[]")
            continue
        stream.write("[\n  " + first)
        while block := list(itertools.islice(texts, 1024)):  # written a block at a time
            stream.write(",\n  " + ",\n  ".join(block))
        stream.write("\n ]")
    stream.write("\n}\n")


#: The readings first, the session part (the record's verification) when it is known.
prepare = body_first(write_head, write_body)
