"""The session's events and its alarm log as CSV tables (formats ``csv-events`` and ``csv-alarms``).

``csv`` holds the readings only (one row per value); these two hold the rest of the record, so a
spreadsheet user gets every part of a session; typed text that a spreadsheet would run as a formula
(``=``, ``+``, ``-``, ``@`` first) starts with ``'``. Times are ISO 8601 UTC with the seconds from the
session start beside them; the export's de-identification and session-relative clock apply as
for every format (staff names are blanked when de-identified unless kept).
"""

from __future__ import annotations

import csv
import json
from typing import IO, Final

from drivers.core.readings import iso_utc
from monitor import chair
from monitor.entered_in_error import is_correction, superseded, superseded_text
from monitor.exports.data import SessionRecord

EVENT_COLUMNS: Final = ("timestamp", "elapsed_s", "phase", "kind", "user", "text", "detail_json")
ALARM_COLUMNS: Final = (
    "started", "started_elapsed_s", "ended", "priority", "kind", "condition", "parameter", "message", "limit",
    "peak_value", "acknowledged", "acknowledged_by", "state",
)


def write_statement(record: SessionRecord, stream: IO[str]) -> None:
    """The file's first line: a ``#`` comment saying whether the record verified and under which alarm profile.

    A CSV file has no other place for it; readers skip it (``csv`` after one ``next(file)``, pandas with
    ``skiprows=1``, a spreadsheet shows it as a first row). Line breaks in the texts never end the comment early.
    """
    text = f"record {record.verification or 'not checked'}; alarm profile {record.alarm_profile or 'not named'}"
    stream.write("# Infusion Monitor session " + record.id + ": " + " ".join(text.split()) + "\n")


def _when(t: float | None) -> str:
    return "" if t is None else iso_utc(t)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


#: What a spreadsheet takes as the start of a formula (OWASP's list for CSV injection).
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str | None) -> str:
    """Typed text as a cell no spreadsheet runs: one that would start a formula begins with ``'``."""
    text = value or ""
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_events(record: SessionRecord, stream: IO[str]) -> None:
    """One row per timeline event: phase changes, notes, quick events, scores, technical events, addenda."""
    write_statement(record, stream)
    out = csv.writer(stream, lineterminator="\n")
    out.writerow(EVENT_COLUMNS)
    start = record.started_at
    replaced = superseded(record.events)
    dose = None if record.protocol is None else record.protocol.dose
    for index, e in enumerate(record.events):
        detail = dict(e.detail)
        text = str(detail.get("text") or chair.entry_text(e, dose) or "")
        if is_correction(e):
            text = chair.corrected_line(e)
        if index in replaced:
            text = f"{chair.corrected_line(e)} ({superseded_text(replaced[index], iso_utc(replaced[index].t))})"
        out.writerow((
            iso_utc(e.t), f"{e.t - start:.3f}", e.phase.value, e.kind.value,
            spreadsheet_text(e.user), spreadsheet_text(text),
            json.dumps(detail, ensure_ascii=False, sort_keys=True),
        ))


def write_alarms(record: SessionRecord, stream: IO[str]) -> None:
    """One row per alarm of the alarm log, in the order they started."""
    write_statement(record, stream)
    out = csv.writer(stream, lineterminator="\n")
    out.writerow(ALARM_COLUMNS)
    start = record.started_at
    for a in sorted(record.alarms, key=lambda alarm: alarm.started_at):
        out.writerow((
            _when(a.started_at), f"{a.started_at - start:.3f}", _when(a.ended_at), a.priority.label, a.kind.value,
            a.condition,
            a.parameter or "", a.message, _number(a.limit), _number(a.peak_value), _when(a.acknowledged_at),
            spreadsheet_text(a.acknowledged_by), a.state.value,
        ))
