"""The course written out: JSON (one object per session), CSV (one row per session) and PDF.

The PDF follows the session report's style: a header, the table of sessions, then charts across
the course (blood-pressure rise per session, PHQ-9 and GAD-7 over the course, dissociation per
session) and the next session due. Esketamine sessions carry their REMS Patient Monitoring Form
in the JSON; :func:`write_rems_worksheet` prints one form as a PDF worksheet. Both PDFs set their
text as the session report does (:mod:`monitor.exports.pdf_fonts`): the same embedded font, and
the same note for what it cannot print.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import IO, Any, Final

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table

from drivers.core.readings import NIBP_PARAMETERS, Parameter
from monitor import rems
from monitor.course import BOOSTER, Course, CourseRecord, CourseRow, course_dict, csv_rows
from monitor.exports import pdf_fonts
from monitor.exports.data import patient_scrubber
from monitor.exports.pdf_export import report_canvas
from monitor.protocols import Protocol, ProtocolError, load_protocol
from monitor.store import Reader, Store, StoreError

log = logging.getLogger(__name__)

FORMATS: Final = ("json", "csv", "pdf")
FONT, FONT_BOLD = pdf_fonts.register()


def _protocols(course: Course) -> dict[str, Protocol | None]:
    out: dict[str, Protocol | None] = {}
    for row in course.rows:
        if row.protocol not in out:
            try:
                out[row.protocol] = load_protocol(row.protocol)
            except ProtocolError:
                out[row.protocol] = None
    return out


def rems_forms(store: Reader, course: Course) -> dict[str, rems.RemsForm]:
    """The REMS form of every session of the course that follows a REMS protocol."""
    protocols = _protocols(course)
    out = {}
    submissions_known = True
    for row in course.rows:
        protocol = protocols.get(row.protocol)
        if protocol is None or not protocol.rems:
            continue
        session = store.session_row(row.session_id)
        events = store.events(row.session_id)
        readings = list(store.readings(row.session_id, parameters=(*NIBP_PARAMETERS, Parameter.SPO2)))
        now = float(session.get("ended_at") or time.time())
        submission = None
        if submissions_known:
            try:
                submission = rems.submission(store, row.session_id)
            except StoreError:
                if isinstance(store, Store):
                    raise
                # A server of a schema before 11 does not give readers the submissions marked at the chairs.
                submissions_known = False
                log.warning("the clinic's server does not say which REMS forms were submitted (its schema is "
                            "older than this program's; its owner runs 'infusion-monitor server migrate'): every "
                            "form reads as not submitted")
        out[row.session_id] = rems.build_form(
            protocol, session, store.patient_row(session.get("patient_id")), events, readings, now, submission)
    return out


#: Times of day in a REMS form: de-identified, they become seconds after the session started.
_FORM_TIMES: Final = ("first_spray_at", "ready_to_leave_at")


def _deidentify_form(form: dict[str, Any], started_at: float) -> None:
    """A REMS form without who, where and when: no date and no clock time, only times within the session
    (``after_start_s``), as the course gives its sessions by ``day``."""
    fields = form["fields"]
    for key in ("patient", "monitoring_provider", "session_date", "site"):
        fields[key]["value"] = None
    for key in _FORM_TIMES:
        value = fields[key]["value"]
        fields[key]["value"] = None
        fields[key]["after_start_s"] = round(value - started_at, 1) if isinstance(value, int | float) else None
    form["submitted_at"] = None
    form["submitted_by"] = None


def without_identifiers(course: Course) -> Course:
    """The course with the patient's name, MRN and birth date removed from what was typed into it."""
    scrub = patient_scrubber(course.patient)
    rows = tuple(replace(row, interventions=tuple(scrub(text) for text in row.interventions)) for row in course.rows)
    return replace(course, rows=rows)


def course_json(store: Reader, course: Course, *, deidentify: bool = False) -> dict[str, Any]:
    """The course JSON with each REMS session's form (de-identified: without the patient field)."""
    if deidentify:
        course = without_identifiers(course)
    forms = rems_forms(store, course)
    starts = {row.session_id: row.started_at for row in course.rows}
    data = course_dict(course, deidentify=deidentify)
    for item in data["sessions"]:
        form = forms.get(item["session_id"])
        if form is None:
            item["rems"] = None
            continue
        form_data = form.as_dict()
        if deidentify:
            _deidentify_form(form_data, starts[item["session_id"]])
        item["rems"] = form_data
    data["rems_not_submitted"] = [sid for sid, form in forms.items() if form.submitted_at is None]
    return data


def write(
    store: Reader, course: Course, fmt: str, stream: IO[Any], *, deidentify: bool = False, user: str | None = None
) -> None:
    """Write the course in ``fmt`` (json, csv: text streams; pdf: a binary stream)."""
    if deidentify:
        course = without_identifiers(course)
    if fmt == "json":
        json.dump(course_json(store, course, deidentify=deidentify), stream, indent=2)
        stream.write("\n")
    elif fmt == "csv":
        writer = csv.writer(stream)
        for index, row in enumerate(csv_rows(course)):
            if deidentify and index:
                row[3] = ""
            writer.writerow(row)
    elif fmt == "pdf":
        write_pdf(course, stream, deidentify=deidentify, user=user)
    else:
        raise ValueError(f"unknown course format '{fmt}'; use {', '.join(FORMATS)}")


# -- PDF -------------------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _date(t: float, deidentify: bool, first: float) -> str:
    if deidentify:
        # The day the JSON and CSV give (to a hundredth): a whole number would round half-days both ways.
        return f"day {round((t - first) / 86_400, 2):g}"
    return datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d")


def _chart_drawing(title: str, chart: VerticalBarChart | HorizontalLineChart, labels: list[str],
                   series: Sequence[Sequence[float | None]], width: float, height: float) -> Drawing:
    """A titled drawing holding ``chart`` laid out and fed with the common axis settings."""
    drawing = Drawing(width, height)
    drawing.initialFontName = FONT  # the drawing's starting font, else a standard (Latin-1) one is added
    drawing.add(String(0, height - 10, title, fontName=FONT_BOLD, fontSize=8))
    chart.x, chart.y = 25, 20
    chart.width, chart.height = width - 40, height - 45
    chart.data = [tuple(s) for s in series] if series and labels else [(0,)]
    chart.categoryAxis.categoryNames = labels or [""]
    chart.categoryAxis.labels.fontName = chart.valueAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 6
    chart.valueAxis.labels.fontSize = 6
    return drawing


def _add_legend(drawing: Drawing, palette: list[Any], names: list[str], width: float, height: float) -> None:
    legend = Legend()
    # Below the title's line, between it and the plot: beside it, a long title ran under the legend.
    legend.x, legend.y = width - 120, height - 14
    legend.fontName = FONT
    legend.fontSize = 6
    legend.columnMaximum = 1
    legend.colorNamePairs = [(palette[i], n) for i, n in enumerate(names)]
    drawing.add(legend)


def _bars(title: str, labels: list[str], series: list[list[float | None]], names: list[str], width: float,
          height: float = 55 * mm) -> Drawing:
    # A session without the value (no cuff, no score) has no bar: a bar of 0 would read as a measured 0.
    chart = VerticalBarChart()
    drawing = _chart_drawing(title, chart, labels, series, width, height)
    # From zero (below it where a value is negative, a fall in pressure): reportlab starts the axis near the
    # smallest bar, which then had no height and read as a session without the value.
    chart.valueAxis.forceZero = 1
    palette = [colors.red, colors.Color(0.6, 0, 0), colors.blue]
    for index in range(len(series)):
        chart.bars[index].fillColor = palette[index % len(palette)]
    drawing.add(chart)
    if len(names) > 1:
        _add_legend(drawing, palette, names, width, height)
    return drawing


def _lines(title: str, labels: list[str], series: list[list[float | None]], names: list[str], width: float,
           height: float = 55 * mm) -> Drawing:
    chart = HorizontalLineChart()
    drawing = _chart_drawing(title, chart, labels, series, width, height)
    chart.valueAxis.valueMin = 0
    # A line needs two values: a course of one session (or a score given once) is drawn as points only.
    chart.joinedLines = int(all(sum(v is not None for v in values) >= 2 for values in series))
    palette = [colors.purple, colors.Color(0.0, 0.5, 0.5)]
    for index in range(len(series)):
        chart.lines[index].strokeColor = palette[index % len(palette)]
        chart.lines[index].strokeWidth = 1.2
        chart.lines[index].symbol = makeMarker("FilledCircle", size=3)
    drawing.add(chart)
    _add_legend(drawing, palette, names, width, height)
    return drawing


#: The course table's columns: heading and width in mm, together the 267 mm between the landscape page's margins
#: (a heading wraps within its column: set on one line, the narrow ones ran into each other).
#: The dose planned and the dose delivered have a column each, as in the window: one "mg" column held the delivered
#: mg where there was one and the planned mg otherwise, beside the planned mg/kg ("0.50 mg/kg, 25.1 mg" for 81 kg).
_COLUMNS: Final = (
    ("#", 7), ("Date", 16), ("Session", 15), ("Protocol", 23), ("mg/kg", 10), ("Planned mg", 12),
    ("Delivered mg", 13), ("Base BP", 12), ("Peak BP", 12), ("Rise sys", 17), ("SpO2 min", 10), ("Alarms H/M/L", 10),
    ("MOAA/S min", 11), ("CADSS max", 10), ("N/V", 8), ("Interventions", 25), ("Rec. min", 10), ("Aldrete", 11),
    ("PADSS", 10), ("PHQ-9", 13), ("GAD-7", 12),
)


def _chart_label(row: CourseRow) -> str:
    """A session under a chart: its number, of records in conflict with its record (each counts from 1)."""
    return row.label if row.record is None else f"{row.record}:{row.label}"


def _session_row(r: CourseRow, deidentify: bool, first: float) -> list[str]:
    """One session's cells of the course table, as text."""
    rise = "-" if r.rise_sys_mmhg is None else f"{r.rise_sys_mmhg:+.0f} ({r.rise_sys_percent:+.0f} %)"
    return [
        r.label + (" B" if r.kind == BOOSTER else ""),
        _date(r.started_at, deidentify, first),
        r.which,
        r.protocol,
        _fmt(r.dose_mg_per_kg, 2),
        _fmt(r.dose_mg, 1),
        _fmt(r.delivered_mg, 1),
        f"{_fmt(r.baseline_sys)}/{_fmt(r.baseline_dia)}",
        f"{_fmt(r.peak_sys)}/{_fmt(r.peak_dia)}",
        rise,
        _fmt(r.lowest_spo2),
        f"{r.alarms.get('high', 0)}/{r.alarms.get('medium', 0)}/{r.alarms.get('low', 0)}",
        _fmt(r.lowest_moaas),
        _fmt(r.highest_cadss),
        "yes" if r.nausea_vomiting else "no",
        "; ".join(r.interventions) or "-",
        _fmt(r.recovery_to_discharge_min),
        "-" if r.aldrete is None else str(r.aldrete),
        "-" if r.padss is None else str(r.padss),
        "-" if r.phq9 is None else f"{r.phq9} {r.phq9_band}",
        "-" if r.gad7 is None else f"{r.gad7} {r.gad7_band}",
    ]


def _session_table(course: Course, small: ParagraphStyle, *, deidentify: bool, first: float) -> Table:
    """The table of sessions: every cell a paragraph, so a long heading or value wraps within its column."""
    bold = ParagraphStyle("small bold", parent=small, fontName=FONT_BOLD)
    rows = [[pdf_fonts.paragraph(heading, bold) for heading, _ in _COLUMNS]]
    for r in course.rows:
        rows.append([pdf_fonts.paragraph(text, small) for text in _session_row(r, deidentify, first)])
    table = pdf_fonts.table(rows, [width * mm for _, width in _COLUMNS], size=small.fontSize,
                            tallest=pdf_fonts.tallest_cell(landscape(A4)[1], 12 * mm))
    # Narrow columns: reportlab's 6 pt each side left a 10 mm column 6 mm for its text.
    table.setStyle([("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2)])
    return table


def story(course: Course, *, deidentify: bool = False, user: str | None = None) -> list[Any]:
    """The flowables of the course report."""
    styles = pdf_fonts.styles()
    h1, h2, body = styles["Heading1"], styles["Heading2"], styles["BodyText"]
    page_width = landscape(A4)[0] - 30 * mm
    first = course.rows[0].started_at if course.rows else time.time()
    parts: list[Any] = [Paragraph("Course of treatment", h1)]
    plan = course.plan
    warning = ParagraphStyle("warning", parent=body, fontName=FONT_BOLD, textColor=colors.red)
    if course.in_conflict:
        parts.append(pdf_fonts.paragraph(_conflict_heading(course, deidentify), warning))
    # Records in conflict: no person named and no count of them together; each record has its own line below.
    who, counted = ("", "") if course.in_conflict else (
        f"{_who(course, deidentify)}. ",
        " " + _counted(course.series_done, course.boosters, course.next_due_at, deidentify, first))
    parts.append(pdf_fonts.paragraph(
        f"{who}Treatment now: {course.drug or '-'} (a change of drug starts its series again). "
        f"Planned series {plan.planned_sessions} sessions every {plan.interval_days:g} days, boosters every "
        f"{plan.booster_interval_days:g} days.{counted}"
        + ("" if deidentify else
           f" Dates are local to the computer that made this report ({_zones_of(course, first)}).")
        # A de-identified report names no one: neither the patient nor the staff (its metadata neither).
        + (f" Exported by {user}." if user and not deidentify else ""),
        body,
    ))
    parts += [pdf_fonts.paragraph(_record_line(record, deidentify, first), body) for record in course.records]
    parts += [pdf_fonts.paragraph(text, warning) for text in course.warnings]
    small = ParagraphStyle("small", parent=body, fontSize=6, leading=7)
    parts += [Spacer(1, 3 * mm), _session_table(course, small, deidentify=deidentify, first=first)]
    labels = [_chart_label(r) for r in course.rows]
    half = page_width / 2 - 5 * mm
    rise_chart = _bars(
        "Blood-pressure rise per session (mmHg above baseline)", labels,
        [[r.rise_sys_mmhg for r in course.rows], [r.rise_dia_mmhg for r in course.rows]],
        ["systolic", "diastolic"], half,
    )
    dissociation = _bars("Dissociation per session (highest CADSS-6)", labels,
                         [[r.highest_cadss for r in course.rows]], ["CADSS-6"], half)
    outcomes = _lines("PHQ-9 and GAD-7 over the course", labels,
                      [[None if r.phq9 is None else float(r.phq9) for r in course.rows],
                       [None if r.gad7 is None else float(r.gad7) for r in course.rows]], ["PHQ-9", "GAD-7"], half)
    # The grid's own font too: a table sets its cells' font even where they hold only a drawing.
    charts = Table([[rise_chart, dissociation], [outcomes, ""]], colWidths=[half + 5 * mm, half + 5 * mm],
                   style=[("FONT", (0, 0), (-1, -1), FONT)])
    parts += [Paragraph("Across the course", h2), charts]
    return parts


def _who(course: Course, deidentify: bool) -> str:
    """The one person a course is of, as its header names them."""
    if deidentify or not course.patient:
        return "de-identified"
    return (f"{course.patient.get('name') or ''} - MRN {course.patient.get('mrn') or ''} - born "
            f"{course.patient.get('birth_date') or '-'}")


def _conflict_heading(course: Course, deidentify: bool) -> str:
    """What the header says in place of one person, for records in conflict."""
    mrn = "" if deidentify or not course.patient else f" {course.patient.get('mrn') or ''}"
    return (f"NOT ONE PERSON: the clinic's server holds MRN{mrn} with different identities, so its sessions are "
            f"shown as {len(course.records)} records, each counted on its own (see the warning below).")


def _counted(done: int, boosters: int, due_at: float | None, deidentify: bool, first: float) -> str:
    """The series done, the boosters and the next session due, as the header gives them."""
    due = "-" if due_at is None else _date(due_at, deidentify, first)
    return f"Done: {done} of the series, {boosters} booster(s). Next session due: {due}."


def _record_line(record: CourseRecord, deidentify: bool, first: float) -> str:
    """One record of an MRN in conflict: who it says the patient is (not de-identified), where, and its count."""
    who = "" if deidentify else f"{record.name or '(no name)'} - born {record.birth_date or '-'} - "
    counted = _counted(record.series_done, record.boosters, record.next_due_at, deidentify, first)
    return f"Record {record.number}: {who}{record.where}. {counted}"


def write_pdf(course: Course, stream: IO[bytes], *, deidentify: bool = False, user: str | None = None) -> None:
    """Write the course report as PDF (landscape A4)."""
    # Who made it and when, as the session report says (it read "anonymous", made on 2000-01-01); a de-identified
    # course names nobody.
    doc = SimpleDocTemplate(
        stream, pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm, topMargin=12 * mm,
        bottomMargin=12 * mm, title="Course of treatment", creator="Infusion Monitor", invariant=False,
        author="" if deidentify else pdf_fonts.printable(user or ""),
        initialFontName=FONT,  # no standard (Latin-1) font anywhere in the file
    )
    stamp = datetime.fromtimestamp(course.generated_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.drawString(15 * mm, 6 * mm, f"Course report - {len(course.rows)} sessions - made {stamp}")
        canvas.drawRightString(landscape(A4)[0] - 15 * mm, 6 * mm, f"page {document.page}")
        canvas.restoreState()

    doc.build(story(course, deidentify=deidentify, user=user), onFirstPage=footer, onLaterPages=footer,
              canvasmaker=report_canvas)


def _answer(value: Any) -> str:
    if value is None or value == "":
        return "(to be entered)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _zones_of(course: Course, first: float) -> str:
    """The zones the course's dates are given in: each zone the clock was in on one of them (a course from July to
    November stated EDT alone, though its later sessions were in EST)."""
    dated = [r.started_at for r in course.rows] + ([] if course.next_due_at is None else [course.next_due_at])
    zones = dict.fromkeys(datetime.fromtimestamp(t).astimezone().strftime("%Z (UTC%z)") for t in dated)
    if len(zones) < 2:
        return _zone_of(first)
    return f"dates in {' or '.join(zones)}, as the clock was on each date"


def _zone_of(t: Any) -> str:
    """The zone a moment's date is given in on this computer (the dates of a form and a course are the local ones)."""
    moment = datetime.fromtimestamp(float(t) if isinstance(t, int | float) else time.time()).astimezone()
    return f"date in {moment.strftime('%Z')}, UTC{moment.strftime('%z')}"


def write_rems_worksheet(form: rems.RemsForm, stream: IO[bytes], *, author: str | None = None) -> None:
    """The REMS Patient Monitoring Form of one session as a PDF worksheet to copy from (made by ``author``)."""
    styles = pdf_fonts.styles()
    body = styles["BodyText"]
    rows: list[list[Any]] = [["Field", "Value", "From"]]
    for f in form.fields:
        value = f.value
        if f.key in ("first_spray_at", "ready_to_leave_at") and isinstance(value, int | float):
            # With its zone and offset: the worksheet may be printed where the clock is not the clinic's (a server
            # in UTC put an evening session on the next day, its first spray five hours later, with no word of it).
            value = datetime.fromtimestamp(value).astimezone().strftime("%Y-%m-%d %H:%M %Z (UTC%z)")
        elif f.key == "session_date" and isinstance(value, str):
            value = f"{value} ({_zone_of(form.value('first_spray_at'))})"
        rows.append([pdf_fonts.paragraph(f.label, body), pdf_fonts.paragraph(_answer(value), body),
                     pdf_fonts.paragraph(f.source or {"session": "recorded", "entered": "entered", "": ""}[f.origin],
                                         body)])
    state = "complete" if form.complete else f"{len(form.missing())} field(s) missing"
    submitted = "not yet submitted (due within 7 days of the session)" if form.submitted_at is None else (
        f"submitted {datetime.fromtimestamp(form.submitted_at).astimezone():%Y-%m-%d %H:%M} by {form.submitted_by}"
    )
    doc = SimpleDocTemplate(stream, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title="REMS patient monitoring worksheet", invariant=False,
                            author=pdf_fonts.printable(author or ""), creator="Infusion Monitor",
                            initialFontName=FONT)
    notice = ParagraphStyle("notice", parent=body, fontName=FONT_BOLD)
    doc.build([
        Paragraph("Esketamine REMS - patient monitoring worksheet", styles["Heading1"]),
        pdf_fonts.paragraph(f"Session {form.session_id[:8]}: {state}; {submitted}.", body),
        *(pdf_fonts.paragraph(note, notice) for note in form.notes),
        Spacer(1, 4 * mm),
        pdf_fonts.table(rows, [75 * mm, 60 * mm, 40 * mm], size=9),
    ], canvasmaker=report_canvas)
