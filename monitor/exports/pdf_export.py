"""The session report as PDF (reportlab): header, whole-session chart, tables, alarm log, notes, discharge.

Layout, top to bottom: patient and session header (device, nurses, baseline); a chart of the
whole session with the phases as coloured bands and every alarm marked where it started; the
NIBP table; per-phase statistics; baseline against the end of recovery with the time to return
within 20 %; the alarm log with who acknowledged what and when; notes, scores and events; the
discharge scoring. Text is set in DejaVu Sans, embedded in the file (:mod:`monitor.exports.pdf_fonts`), so
names and symbols print in Latin, Greek and Cyrillic; what it cannot print faithfully is named, never "?".
The file's metadata give the person who exported it and the real time it was made.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from reportlab.graphics.shapes import Drawing, Line, Polygon, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from drivers.core.readings import Parameter
from monitor import chair, review, sign_off
from monitor.alarms.model import Priority
from monitor.discharge import (
    LatestVitals,
    aldrete_circulation,
    aldrete_spo2,
    latest_vitals,
    padss_vital_signs,
)
from monitor.entered_in_error import superseded, superseded_text
from monitor.exports import pdf_fonts, treatment
from monitor.exports.data import SessionRecord, StoredReadings
from monitor.exports.deferred import Finish
from monitor.labels import LABELS, code_words, event_label, plain_detail, pressure_text, yes_no
from monitor.session import EventKind, Phase
from monitor.wall_clock import clock_text

PHASE_COLOURS: Final = {
    Phase.SETUP: colors.Color(0.93, 0.93, 0.93),
    Phase.BASELINE: colors.Color(0.86, 0.92, 1.0),
    Phase.INFUSION: colors.Color(1.0, 0.92, 0.84),
    Phase.RECOVERY: colors.Color(0.86, 0.96, 0.86),
    Phase.COMPLETE: colors.Color(0.93, 0.93, 0.93),
}
PRIORITY_COLOURS: Final = {
    Priority.HIGH: colors.red, Priority.MEDIUM: colors.orange, Priority.LOW: colors.Color(0.0, 0.6, 0.7),
}
LINE_COLOURS: Final = {
    Parameter.HR: colors.green,
    Parameter.PR: colors.Color(0.4, 0.7, 0.4),
    Parameter.SPO2: colors.blue,
    Parameter.NIBP_SYS: colors.red,
    Parameter.NIBP_DIA: colors.Color(0.6, 0.0, 0.0),
}
NOTE_KINDS: Final = (
    EventKind.NOTE,
    EventKind.QUICK_EVENT,
    EventKind.SCORE,
    EventKind.ADDENDUM,
    EventKind.SIGNED_OFF,
    EventKind.INFUSION_PAUSED,
    EventKind.INFUSION_RESUMED,
    EventKind.LINK_LOST,
    EventKind.LINK_RESTORED,
    EventKind.TECHNICAL,
)
#: At most this many points per line on the chart (medians of equal time bins).
CHART_POINTS: Final = 400
#: Width in mm of a table column of times: "03:00:36 CEST (t+0:30:36)" and "03:00:36 CEST" on one line with the
#: cell's padding (at 38 and 15 mm a time that named its zone ran into the next column). A longer zone name wraps
#: within the cell.
TIME_AND_T: Final = 44
TIME_ONLY: Final = 27


FONT, FONT_BOLD = pdf_fonts.register()
#: A paragraph of report text (a short name: the report makes many).
_p = pdf_fonts.paragraph


class _Clock:
    """Times as a report prints them: wall clock (local, or UTC on a session-relative clock) and t+."""

    def __init__(self, record: SessionRecord) -> None:
        self.start = record.started_at
        self.relative = record.relative_time

    def wall(self, t: float | None, seconds: bool = True) -> str:
        """``t`` as the clock showed it, its zone named as on every screen and, past a daylight-saving change, also
        wherever its offset is not the one the header states (at the start), however long the session."""
        if t is None:
            return ""
        form = "%H:%M:%S" if seconds else "%H:%M"
        if self.relative:
            return datetime.fromtimestamp(t, tz=UTC).strftime(form)
        return clock_text(t, form, since=self.start)

    def date(self, t: float) -> str:
        if self.relative:
            return "session-relative clock"
        return datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d %H:%M %Z (UTC%z)")

    def offset(self, t: float | None) -> str:
        if t is None:
            return ""
        seconds = round(t - self.start)
        sign = "-" if seconds < 0 else "+"
        seconds = abs(seconds)
        return f"t{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def both(self, t: float | None) -> str:
        if t is None:
            return ""
        return f"{self.wall(t)} ({self.offset(t)})"


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s"


def _binned(times: Sequence[float], values: Sequence[float], start: float, span: float) -> list[tuple[float, float]]:
    """(time, value) points, as medians of equal time bins when there are many, so a day's second-by-second
    series stays light."""
    if len(times) <= CHART_POINTS:
        return list(zip(times, values, strict=True))
    width = span / CHART_POINTS
    bins: dict[int, list[float]] = {}
    for t, v in zip(times, values, strict=True):
        bins.setdefault(int((t - start) / width), []).append(v)
    return [(start + (i + 0.5) * width, float(statistics.median(vs))) for i, vs in sorted(bins.items())]


def chart(record: SessionRecord, width: float = 180 * mm, height: float = 95 * mm) -> Drawing:
    """The whole session: HR/PR and NIBP on a 30-210 scale, SpO2 below on 80-100, phase bands, alarm marks."""
    d = Drawing(width, height)
    d.initialFontName = FONT  # the drawing's starting font, else a standard one is added
    left, right, bottom = 28.0, 8.0, 16.0
    plot_w = width - left - right
    spo2_h = height * 0.26
    gap = 10.0
    top_margin = 14.0
    main_bottom = bottom + spo2_h + gap
    main_h = height - main_bottom - top_margin
    start = record.started_at
    end = max(start + 60.0, max((r.t for r in record.readings), default=start),
              float(record.session.get("ended_at") or start))
    span = end - start

    def x(t: float) -> float:
        return left + plot_w * (t - start) / span

    panels = ((main_bottom, main_h, 30.0, 210.0), (bottom, spo2_h, 80.0, 100.0))
    # Phase bands behind both panels.
    phase_at = record.phase_at()
    edges = [*zip(phase_at.times, phase_at.phases, strict=True)]
    # Names above the chart on two lines, each in the first line where it clears the name before it: short phases
    # of a long session wrote over each other ("bainfusionrecovery" over 15 h).
    line_ends = [-math.inf, -math.inf]
    for i, (t, phase) in enumerate(edges):
        t_end = edges[i + 1][0] if i + 1 < len(edges) else end
        for y0, h, _lo, _hi in panels:
            d.add(
                Rect(x(t), y0, max(x(t_end) - x(t), 0.5), h, fillColor=PHASE_COLOURS[phase], strokeColor=None)
            )
        name, at = _phase_name(record, phase), x(t) + 2
        line = next((k for k, ends in enumerate(line_ends) if ends + 2 <= at), line_ends.index(min(line_ends)))
        line_ends[line] = at + stringWidth(name, FONT, 6)
        d.add(String(at, main_bottom + main_h + 2 + 6.5 * line, name, fontName=FONT, fontSize=6))
    for y0, h, lo, hi in panels:
        d.add(Rect(left, y0, plot_w, h, fillColor=None, strokeColor=colors.black, strokeWidth=0.5))
        steps = 4 if hi - lo <= 20 else 6
        for k in range(steps + 1):
            value = lo + (hi - lo) * k / steps
            y = y0 + h * k / steps
            d.add(Line(left, y, left + plot_w, y, strokeColor=colors.Color(0.8, 0.8, 0.8), strokeWidth=0.25))
            d.add(String(left - 3, y - 2, f"{value:g}", fontName=FONT, fontSize=6, textAnchor="end"))
    minutes = span / 60.0
    tick = axis_tick_minutes(minutes)
    in_hours = tick >= 60
    for k in range(int(minutes // tick) + 1):
        t = start + k * tick * 60.0
        label = f"{k * tick // 60:g}" if in_hours else f"{k * tick:g}"
        d.add(String(x(t), bottom - 8, label, fontName=FONT, fontSize=6, textAnchor="middle"))
    d.add(
        String(
            left + plot_w,
            bottom - 14,
            "hours from session start" if in_hours else "minutes from session start",
            fontName=FONT,
            fontSize=6,
            textAnchor="end",
        )
    )

    def y_of(panel: tuple[float, float, float, float], value: float) -> float:
        y0, h, lo, hi = panel
        return y0 + h * (min(max(value, lo), hi) - lo) / (hi - lo)

    # Times and values of each line in two lists (a day is ~260,000 values: no pair object for each).
    series: dict[Parameter, tuple[list[float], list[float]]] = {}
    for r in review.reliable(record.readings):
        if r.value is not None and r.parameter in LINE_COLOURS:
            times, values = series.get(r.parameter) or series.setdefault(r.parameter, ([], []))
            times.append(r.t)
            values.append(r.value)
    for parameter in (Parameter.PR, Parameter.HR, Parameter.SPO2):
        points = _binned(*series.get(parameter, ([], [])), start, span)
        panel = panels[1] if parameter is Parameter.SPO2 else panels[0]
        if len(points) >= 2:
            flat = [c for t, v in points for c in (x(t), y_of(panel, v))]
            d.add(PolyLine(flat, strokeColor=LINE_COLOURS[parameter], strokeWidth=0.6))
    for parameter in (Parameter.NIBP_SYS, Parameter.NIBP_DIA):
        points = list(zip(*series.get(parameter, ([], [])), strict=True))
        flat = [c for t, v in points for c in (x(t), y_of(panels[0], v))]
        if len(points) >= 2:
            d.add(PolyLine(flat, strokeColor=LINE_COLOURS[parameter], strokeWidth=0.8))
        for t, v in points:
            px, py = x(t), y_of(panels[0], v)
            d.add(Rect(px - 1.5, py - 1.5, 3, 3, fillColor=LINE_COLOURS[parameter], strokeColor=None))
    # Alarm marks: a triangle at the top of the chart where each alarm started, numbered as in the log.
    for number, alarm in enumerate(record.alarms, start=1):
        colour = PRIORITY_COLOURS[alarm.priority]
        px = x(alarm.started_at)
        ytop = main_bottom + main_h
        d.add(Polygon([px - 3, ytop + 9, px + 3, ytop + 9, px, ytop + 3], fillColor=colour, strokeColor=None))
        d.add(
            Line(px, main_bottom, px, ytop + 3, strokeColor=colour, strokeWidth=0.4, strokeDashArray=[1, 2])
        )
        d.add(String(px + 3, ytop + 7, str(number), fontName=FONT, fontSize=5))
    # Legend.
    lx = left
    for parameter, colour in LINE_COLOURS.items():
        if parameter in series:
            d.add(Rect(lx, 2, 6, 3, fillColor=colour, strokeColor=None))
            d.add(String(lx + 8, 1.5, LABELS[parameter], fontName=FONT, fontSize=6))
            lx += 45
    return d


#: Entries made in review after the session, not at the chair: their authors (a physician signing off, whoever writes an
#: addendum) are named in their own sections, not among the session's nurses.
_REVIEW_ENTRIES = frozenset({EventKind.SIGNED_OFF, EventKind.ADDENDUM})


def _nurses(record: SessionRecord) -> list[str]:
    """Who was at the chair: the session's nurse, whoever made an entry during it, and who acknowledged its alarms."""
    names: list[str] = []
    candidates: Iterable[str | None] = [
        record.session.get("nurse"),
        *(e.user for e in record.events if e.kind not in _REVIEW_ENTRIES),
        *(a.acknowledged_by for a in record.alarms),
    ]
    for name in candidates:
        if name and name not in names:
            names.append(str(name))
    return names


def axis_tick_minutes(minutes: float) -> int:
    """The tick step (minutes) that puts at most 12 ticks on the time axis, for any session length."""
    for step in (5, 10, 15, 30, 60, 120, 180, 240, 360, 720):
        if minutes / step <= 12:
            return step
    return 720 * math.ceil(minutes / (720 * 12))


#: A note is cut into table rows of at most this many characters, so no row is taller than a page.
NOTE_ROW_CHARS = 1800
#: Words longer than this are broken in the PDF only (a cell cannot wrap a word wider than itself).
LONGEST_WORD = 60


def note_rows(text: str) -> list[str]:
    """A note's text as pieces that each fit a table row on one page (the whole text, in order)."""
    words = []
    for word in text.split(" "):
        while len(word) > LONGEST_WORD:
            words.append(word[:LONGEST_WORD])
            word = word[LONGEST_WORD:]
        words.append(word)
    pieces: list[str] = []
    current = ""
    for word in words:
        if current and len(current) + 1 + len(word) > NOTE_ROW_CHARS:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    pieces.append(current)
    return pieces


_STATUS_WORDS: Final = {
    "complete": "completed",
    "recording": "still recording when exported",
    "closed": "closed before completion",
    "stopped": "recording ended before completion",
    "unfinished": "unfinished",
}
_PHASE_ORDER: Final = (Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY, Phase.COMPLETE)


def _phase_name(record: SessionRecord, phase: Phase) -> str:
    """What the session's protocol calls a phase, as the report can print it (a clinic writes the names)."""
    return pdf_fonts.printable(record.phase_label(phase))


def _status_sentence(status: object) -> str:
    return _STATUS_WORDS.get(str(status), str(status or "status unknown"))


def _phases_sentence(record: SessionRecord) -> str:
    """The phases the session reached, named as its protocol names them."""
    try:
        reached = set(json.loads(record.session.get("phases_reached") or "[]"))
    except (TypeError, ValueError):
        reached = set()
    phases = [_phase_name(record, p) for p in _PHASE_ORDER if p.value in reached]
    return "phases reached: " + (" → ".join(phases) if phases else "set-up only")


def _plan_sentence(record: SessionRecord) -> str:
    """Whether the phases followed a plan automatically or were started by hand (then no plan is claimed)."""
    started = next((e for e in record.events if e.kind is EventKind.INFUSION_STARTED), None)
    plan = str(record.session.get("plan") or "")
    if started is not None and dict(started.detail).get("by") == "plan" and plan:
        minutes = dict(part.split(":", 1) for part in plan.split(",") if ":" in part)
        parts = [f"{_phase_name(record, phase)} {minutes[phase.value]} min"
                 for phase in _PHASE_ORDER if phase.value in minutes]
        return "advanced automatically by the plan (" + (", ".join(parts) or plan) + ")"
    return "started by hand by the nurse"


def _exporter(record: SessionRecord) -> str:
    """Who made the file (staff names are left out of a de-identified export unless kept)."""
    options = record.options
    if record.deidentified and not options.keep_staff:
        return ""
    return pdf_fonts.printable(options.user or "")


def _event_sentence(event: Any, phase_words: Mapping[Phase, str] | None = None) -> str:
    """A note, score or event's detail as a person would write it (``phase_words``: the protocol's phase names)."""
    detail = dict(event.detail)
    kind = event.kind
    if kind is EventKind.SCORE:
        text = chair.score_text(detail)
        items = detail.get("items")
        if isinstance(items, dict) and items:
            text += " (items " + ", ".join(f"{k}: {v}" for k, v in items.items()) + ")"
        return text
    if kind in (EventKind.NOTE, EventKind.QUICK_EVENT) and (detail.get("text") or detail.get("corrects_at")):
        return chair.corrected_line(event)
    if kind is EventKind.ADDENDUM and detail.get("text"):
        return str(detail["text"])
    if kind is EventKind.SIGNED_OFF:
        return str(detail.get("comment") or "record reviewed")
    if kind in (EventKind.INFUSION_PAUSED, EventKind.INFUSION_RESUMED):
        return pdf_fonts.printable(event_label(kind, phase_words))
    if kind is EventKind.LINK_LOST:
        return "link to the monitor lost" + (f": {detail['reason']}" if detail.get("reason") else "")
    if kind is EventKind.LINK_RESTORED:
        return "link to the monitor back"
    return plain_detail(detail)


def _note_kind(event: Any) -> str:
    """A notes row's kind: what came after the session ended says so (an addendum, after a sign-off too)."""
    if event.kind is EventKind.SIGNED_OFF:
        return "sign-off (after completion)"
    if event.kind is EventKind.ADDENDUM:
        return "addendum (after sign-off)" if sign_off.after_sign_off(event) else "addendum (after completion)"
    return event_label(event.kind).lower()


def _device_words(event: Any) -> str:
    """What a timeline row of a device change or a resume adds to its name: from and to which device, or the
    device resumed on (a de-identified report names the drivers only)."""
    detail = dict(event.detail)
    to = detail.get("device") or detail.get("driver")
    if event.kind is EventKind.DEVICE_CHANGED:
        before = f" from {detail['previous_device']}" if detail.get("previous_device") else ""
        return pdf_fonts.printable(before + (f" to {to}" if to else ""))
    if event.kind is EventKind.SESSION_RESUMED and to:
        return pdf_fonts.printable(f" on {to}")
    return ""


def _header(record: SessionRecord, clock: _Clock, styles: Any) -> list[Any]:
    s = record.session
    normal = styles["BodyText"]
    p = record.patient
    if record.deidentified:
        patient = "De-identified export: no name, MRN, birth date or device serial"
    elif p:
        patient = (
            f"{p.get('name') or '(no name)'} - MRN {p.get('mrn') or '-'} - born {p.get('birth_date') or '-'}"
        )
    else:
        patient = "No patient recorded for this session"
    baseline = review.session_baseline(record)
    baseline_text = (
        f"HR {baseline.heart_rate:.0f} /min, SpO2 {baseline.spo2:.0f} %, "
        f"NIBP {pressure_text(baseline.nibp_sys, baseline.nibp_dia, baseline.nibp_mean)} mmHg: "
        # The baseline phase's medians, set when it ended: "NIBP … at <time>" read as one cuff measured then.
        f"medians of the baseline phase, set at {clock.both(baseline.taken_at)}"
        if baseline
        else "no baseline taken"
    )
    ended = s.get("ended_at")
    length = (float(ended) - record.started_at) if ended is not None else None
    rows = [
        ["Patient", _p(patient, normal)],
        [
            "Session",
            _p(f"{record.id} · {_status_sentence(s.get('status'))} · {_phases_sentence(record)}", normal),
        ],
        ["Started", _p(f"{clock.date(record.started_at)}; length {_duration(length)}", normal)],
        ["Device" if len(record.devices_used()) < 2 else "Devices", _p(record.devices_text(), normal)],
        ["Nurse(s)", _p(", ".join(_nurses(record)) or "-", normal)],
        ["Phases", _p(_plan_sentence(record), normal)],
        ["Baseline", _p(baseline_text, normal)],
        ["Alarms", _p(f"profile {record.alarm_profile}", normal)],
        ["Record", _p(record.verification, normal)],
        ["Sign-off", _p(_sign_off_sentence(record, clock), normal)],
    ]
    if record.relative_time:
        rows.append(
            ["Times", _p("shifted: the session starts at 00:00:00 on a session-relative clock", normal)]
        )
    widths = [25 * mm, 155 * mm]
    table = Table(pdf_fonts.fit_rows(rows, widths), colWidths=widths)
    table.setStyle(
        TableStyle([("FONT", (0, 0), (-1, -1), FONT, 9), ("FONT", (0, 0), (0, -1), FONT_BOLD, 9),
                    ("VALIGN", (0, 0), (-1, -1), "TOP")])
    )
    return [Paragraph(f"{record.kind_of_session} report", styles["Title"]), table]


def _sign_off_sentence(record: SessionRecord, clock: _Clock) -> str:
    """Who signed the session off and when, each co-signature after the first; or that nobody has (a de-identified
    report without staff names says "a physician")."""
    signed = sign_off.sign_offs(record.events)
    if not signed:
        return "not signed off by a physician"
    named = not record.deidentified or record.options.keep_staff
    parts = []
    for index, s in enumerate(signed):
        who = pdf_fonts.printable(s.signer) if named and s.by != "?" else "a physician"
        said = f"{'signed off' if index == 0 else 'co-signed'} by {who} at {clock.both(s.t)}"
        parts.append(said + (f": {pdf_fonts.printable(s.comment)}" if s.comment else ""))
    return "; ".join(parts)


def _discharge_rows(record: SessionRecord) -> list[list[str]]:
    scored = [e for e in record.events if e.kind is EventKind.DISCHARGE_SCORED]
    rows = [["Score", "Item", "Points", "Basis"]]
    if scored:
        detail = dict(scored[-1].detail)
        for key in ("aldrete", "padss"):
            score = detail.get(key)
            if isinstance(score, dict):
                for item in score.get("items", []):
                    rows.append(
                        [
                            str(score.get("name", key)),
                            code_words(str(item.get("name"))),
                            f"{item.get('score')}/{item.get('maximum')}",
                            str(item.get("basis", "")),
                        ]
                    )
                rows.append(
                    [
                        str(score.get("name", key)),
                        "total",
                        f"{score.get('total')}/{score.get('maximum')}",
                        "passes" if score.get("passed") else f"below {score.get('threshold')}",
                    ]
                )
        rows.append(["Escort", "present", "yes" if detail.get("escort_present") else "no", ""])
        rows.append(
            ["No driving", "acknowledged", "yes" if detail.get("no_driving_acknowledged") else "no", ""]
        )
        rows.append(
            [
                "Discharge",
                "ready" if detail.get("passed") else "not ready",
                "",
                "; ".join(str(r) for r in detail.get("reasons", [])),
            ]
        )
        return rows
    # No scoring recorded: show what the monitor can judge on its own.
    baseline = review.session_baseline(record)
    vitals: LatestVitals = latest_vitals(record.readings, review.heart_rate_parameter(record))
    for name, item in (
        ("Modified Aldrete", aldrete_circulation(vitals, baseline)),
        ("Modified Aldrete", aldrete_spo2(vitals, on_oxygen=False)),
        ("PADSS", padss_vital_signs(vitals, baseline)),
    ):
        rows.append([name, item.name, f"{item.score}/{item.maximum}", item.basis + " (computed)"])
    rows.append(["Discharge", "not scored", "", "the nurse's items were not entered in this session"])
    return rows


def _treatment_rows(record: SessionRecord, clock: _Clock, small: ParagraphStyle) -> list[Any]:
    """Protocol, checklist, dose, interventions, questionnaires and (esketamine) the REMS form."""
    found = treatment.summary(record)
    rows: list[list[Any]] = [["Item", "Recorded"]]
    rows.append(["Protocol", found.protocol])
    if found.checklist is not None:
        c = found.checklist
        meds = c.get("medications")
        text = (f"fasting: {_fmt(c.get('fasting_hours'), 1)} h; escort: {yes_no(c.get('escort_present'))}; "
                f"transport: {c.get('transport') or '-'}; consent: {yes_no(c.get('consent_on_file'))}; weight: "
                f"{_fmt(c.get('weight_kg'), 1)} kg; pregnancy: {code_words(str(c.get('pregnancy') or '-'))}; "
                "medications: "
                + ("not reviewed" if meds is None else ", ".join(m["name"] for m in meds) or "none"))
        flagged = c.get("flagged") or {}
        if flagged:
            text += "; FLAGGED " + "; ".join(f"{code_words(k)}: {', '.join(v)}" for k, v in flagged.items())
        if c.get("problems"):
            text += "; OPEN: " + "; ".join(c["problems"])
        rows.append(["Checklist", _p(text, small)])
    dose = found.dose
    if dose.plan is not None:
        plan = dose.plan
        text = f"{plan.drug} {plan.route}: planned {plan.total_mg:g} mg"
        if plan.dose_mg_per_kg is not None and plan.weight_kg:
            text += f" ({plan.dose_mg_per_kg:g} mg/kg x {plan.weight_kg:g} kg)"
        if plan.rate_mg_per_h is not None:
            text += f" at {plan.rate_mg_per_h:g} mg/h"
        if plan.lot:
            text += f"; lot {plan.lot}"
        for change in dose.rate_changes:
            text += f"; {clock.wall(change.t)} rate {change.rate_mg_per_h:g} mg/h"
        if dose.delivered_mg is not None:
            text += f"; delivered {dose.delivered_mg:g} mg"
        if plan.confirmed_reason:
            text += f"; outside range, confirmed: {plan.confirmed_reason}"
        rows.append(["Dose", _p(text, small)])
    events = list(record.events)
    replaced = superseded(events)
    for index, e in enumerate(events):
        # Every rate and intervention entered, one in error marked beside the one that corrects it (the dose line
        # above, the summary above the chart and the course read the standing ones). A rate says who entered it:
        # the delivered dose is worked out from it.
        if e.kind in (EventKind.RATE_CHANGED, EventKind.INTERVENTION):
            text = chair.corrected_line(e)
            if e.kind is EventKind.RATE_CHANGED and e.user:
                text += f" (entered by {e.user})"
            if index in replaced:
                text += " - " + superseded_text(replaced[index], clock.both(replaced[index].t))
            name = "Rate" if e.kind is EventKind.RATE_CHANGED else "Intervention"
            rows.append([_p(f"{name} {clock.wall(e.t)}", small), _p(text, small)])
    for name, score in found.outcomes.items():
        rows.append([name, f"{score.total} ({score.band})"])
    if found.rems is not None:
        missing = found.rems.missing()
        rows.append(["REMS form", _p("complete" if not missing else "missing: " + "; ".join(missing), small)])
    return [pdf_fonts.table(rows, [35 * mm, 145 * mm])]


def story(record: SessionRecord) -> list[Any]:
    """The report's flowables in order."""
    styles = pdf_fonts.styles()
    return _story_head(record, styles) + _story_body(record, styles)


def _story_head(record: SessionRecord, styles: Any) -> list[Any]:
    """The title and the header table (which states whether the record verified)."""
    return [*_header(record, _Clock(record), styles), Spacer(1, 4 * mm)]


def _story_body(record: SessionRecord, styles: Any) -> list[Any]:
    """Everything after the header: the chart, the tables, the alarm log, notes, treatment, discharge."""
    h2 = styles["Heading2"]
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=8, leading=9.5)
    clock = _Clock(record)
    parts: list[Any] = [Paragraph("Whole session", h2), chart(record)]

    nibp = review.nibp_table(record)
    rows: list[list[Any]] = [["#", "Time", "Phase", "Systolic", "Diastolic", "Mean", "Status"]]
    for i, m in enumerate(nibp, start=1):
        rows.append(
            [
                str(i),
                _p(clock.both(m.t), small),
                _phase_name(record, m.phase),
                _fmt(m.systolic),
                _fmt(m.diastolic),
                _fmt(m.mean),
                m.status or "ok",
            ]
        )
    parts += [
        Paragraph("NIBP measurements (mmHg)", h2),
        pdf_fonts.table(rows, [8 * mm, TIME_AND_T * mm, 20 * mm, 18 * mm, 18 * mm, 16 * mm, 44 * mm]),
    ]

    rows = [["Phase", "Parameter", "n", "Min", "Max", "Mean", "Median"]]
    for st in review.phase_statistics(record):
        rows.append(
            [
                _phase_name(record, st.phase),
                LABELS[st.parameter],
                str(st.count),
                _fmt(st.minimum),
                _fmt(st.maximum),
                _fmt(st.mean, 1),
                _fmt(st.median, 1),
            ]
        )
    parts += [
        Paragraph("Statistics by phase (reliable values only)", h2),
        pdf_fonts.table(rows, [22 * mm, 24 * mm, 14 * mm, 18 * mm, 18 * mm, 18 * mm, 18 * mm]),
    ]

    rows = [["Parameter", "Baseline", "End of recovery", "Change", "Change %"]]
    for c in review.baseline_vs_end_of_recovery(record):
        rows.append(
            [
                LABELS[c.parameter],
                _fmt(c.baseline, 1),
                _fmt(c.end_of_recovery, 1),
                _fmt(c.change, 1),
                _fmt(c.change_percent, 1),
            ]
        )
    parts += [Paragraph("Baseline and end of recovery", h2), pdf_fonts.table(rows)]
    rows = [["Parameter", "Band (within 20 %)", f"Back within band after {record.phase_label(Phase.INFUSION)} ended",
             "Last value"]]
    for ret in review.return_to_baseline(record):
        band = "-" if ret.band is None else f"{ret.band[0]:.0f} - {ret.band[1]:.0f}"
        if not ret.returned:
            when = "not back within the band"
        elif ret.seconds == 0:
            when = "never left the band"
        else:
            when = f"after {_duration(ret.seconds)}"
        rows.append([LABELS[ret.parameter], band, when, _fmt(ret.last_value, 1)])
    parts += [Spacer(1, 2 * mm), pdf_fonts.table(rows)]

    rows = [["#", "Start", "End", "Priority", "Alarm", "Limit", "Peak", "Acknowledged"]]
    for i, a in enumerate(record.alarms, start=1):
        ack = f"{a.acknowledged_by or '-'} at {clock.wall(a.acknowledged_at)}" if a.acknowledged_at else "-"
        rows.append(
            [
                str(i),
                _p(clock.both(a.started_at), small),
                _p(clock.wall(a.ended_at) or "active", small),
                a.priority.label,
                _p(a.message or a.condition, small),
                _fmt(a.limit, 0),
                _fmt(a.peak_value, 0),
                _p(ack, small),
            ]
        )
    parts += [Paragraph("Alarm log", h2)]
    parts += [
        # The start's t+ goes under its time (a row is two lines anyway, for who acknowledged it), which leaves the
        # alarm's own words room for one line ("NIBP SYS 168 >= 165").
        pdf_fonts.table(rows, [7 * mm, TIME_ONLY * mm, TIME_ONLY * mm, 15 * mm, 51 * mm, 12 * mm, 12 * mm, 29 * mm])
        if len(rows) > 1
        else _p("No alarms were raised.", small)
    ]

    rows = [["Time", "Kind", "By", "Detail"]]
    words = record.phase_words
    replaced = superseded(record.events)
    for at, e in enumerate(record.events):
        if e.kind in NOTE_KINDS:
            kind = _note_kind(e)
            sentence = _event_sentence(e, words)
            if at in replaced:
                sentence += " - " + pdf_fonts.printable(superseded_text(replaced[at], clock.both(replaced[at].t)))
            for index, piece in enumerate(note_rows(sentence)):
                if index == 0:
                    rows.append([_p(clock.both(e.t), small), kind, _p(e.user or "-", small), _p(piece, small)])
                else:
                    rows.append(["", "(continued)", "", _p(piece, small)])
    parts += [Paragraph("Notes, scores and events", h2)]
    parts += [
        pdf_fonts.table(rows, [TIME_AND_T * mm, 30 * mm, 25 * mm, 81 * mm])
        if len(rows) > 1
        else _p("None recorded.", small)
    ]

    parts += [Paragraph("Treatment", h2), *_treatment_rows(record, clock, small)]

    rows = [
        [c if isinstance(c, str) and len(c) < 40 else _p(str(c), small) for c in row]
        for row in _discharge_rows(record)
    ]
    parts += [Paragraph("Discharge scoring", h2), pdf_fonts.table(rows, [30 * mm, 30 * mm, 18 * mm, 102 * mm])]

    def step_name(kind: EventKind) -> str:
        return pdf_fonts.printable(event_label(kind, words))

    taken = review.overrides(record)
    if taken:
        rows = [["Time", "Step", "By", "Not ready", "Reason given"]]
        for o in taken:
            rows.append([_p(clock.both(o.t), small), step_name(o.step), _p(o.user or "-", small),
                         _p("; ".join(o.overridden) or "-", small), _p(o.reason, small)])
        parts += [Paragraph("Steps taken although not ready", h2),
                  pdf_fonts.table(rows, [TIME_AND_T * mm, 30 * mm, 25 * mm, 39 * mm, 42 * mm])]

    timeline: list[list[Any]] = [["Time", "Event", "By"]]
    for e in record.events:
        if e.kind not in NOTE_KINDS and e.kind is not EventKind.NIBP_REQUESTED:
            timeline.append([_p(clock.both(e.t), small), _p(step_name(e.kind) + _device_words(e), small),
                             _p(e.user or "-", small)])
    parts += [Paragraph("Timeline", h2), pdf_fonts.table(timeline, [TIME_AND_T * mm, 96 * mm, 40 * mm])]
    return parts


def write(record: SessionRecord, stream: IO[bytes]) -> None:
    """Write the report as PDF.

    The report passes over the readings a dozen times (phase statistics, the NIBP table, the
    comparisons with baseline, the chart), so streamed readings are read from the store once and
    held while it is made; the chart is resampled to :data:`CHART_POINTS` medians per line.
    """
    prepare(record, None)(record, stream)


def prepare(record: SessionRecord, directory: Path | None) -> Finish:
    """Read the readings and make everything after the header; the header (the record's verification)
    and the layout are made by the returned function. (``directory``: unused, the report is made in memory.)"""
    if isinstance(record.readings, StoredReadings):
        record = replace(record, readings=tuple(record.readings))
    styles = pdf_fonts.styles()
    body = _story_body(record, styles)

    def finish(checked: SessionRecord, stream: IO[bytes]) -> None:
        verified = replace(record, verification=checked.verification)
        _build(verified, [*_story_head(verified, styles), *body], stream)

    return finish


def pdf_date(yyyy: int, mm_: int, dd: int, hh: int, m: int, s: int) -> str:
    """A PDF date (ISO 32000 7.9.4) of a local time with its UTC offset in hours and minutes.

    reportlab writes the offset's minutes as its leftover seconds, so in India (UTC+05:30) its creation date
    says +05'00' and the moment is half an hour off; this is the one written instead.
    """
    # reportlab hands over the local time of now without saying which of the two it is in the hour the clocks go
    # back; now's own offset says (the naive time's first one stamped a PDF made at 01:30 EST with -04'00').
    now = time.localtime()
    if (now.tm_year, now.tm_mon, now.tm_mday, now.tm_hour, now.tm_min) == (yyyy, mm_, dd, hh, m):
        minutes = round(now.tm_gmtoff / 60)
    else:
        offset = datetime(yyyy, mm_, dd, hh, m, s).astimezone().utcoffset()
        minutes = round(offset.total_seconds() / 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"D:{yyyy:04d}{mm_:02d}{dd:02d}{hh:02d}{m:02d}{s:02d}{sign}{hours:02d}'{rest:02d}'"


def report_canvas(*args: Any, **kwargs: Any) -> Any:
    """reportlab's canvas, writing the creation date with :func:`pdf_date` (every report of this program)."""
    canvas = Canvas(*args, **kwargs)
    canvas.setDateFormatter(pdf_date)
    return canvas


def _build(record: SessionRecord, flowables: list[Any], stream: IO[bytes]) -> None:
    """Lay the report out and write it."""
    title = f"{record.kind_of_session} report" + ("" if record.deidentified else f" {record.id[:8]}")
    doc = SimpleDocTemplate(
        stream,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        author=_exporter(record),
        creator="Infusion Monitor",
        subject=f"Session {record.id}" if not record.deidentified else "De-identified session report",
        invariant=False,  # the real creation time
        initialFontName=FONT,  # no standard (Latin-1) font anywhere in the file
    )
    clock = _Clock(record)

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.drawString(
            15 * mm, 8 * mm, pdf_fonts.printable(f"Session {record.id} - started {clock.date(record.started_at)}")
        )
        canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, f"page {document.page}")
        canvas.restoreState()

    doc.build(flowables, onFirstPage=footer, onLaterPages=footer, canvasmaker=report_canvas)
