"""Doses, checklists, interventions, questionnaires and the REMS form in every session export."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from monitor.cli import main
from monitor.course import load_course_by_mrn
from monitor.course_export import rems_forms, write_rems_worksheet
from monitor.exports import fhir_export
from monitor.exports.data import load
from monitor.exports.hl7_export import messages
from monitor.store import Store
from tests.csv_files import rows as csv_rows
from tests.monitor.course.recording import MRN, NURSE


def _sessions(db: Path) -> list[str]:
    with Store(db) as store:
        return [row.session_id for row in load_course_by_mrn(store, MRN).rows]


def test_json_export_carries_the_treatment(course_db: Path, course_reader: list[str], tmp_path: Path) -> None:
    hypertensive, nasal = _sessions(course_db)[1], _sessions(course_db)[3]
    out = tmp_path / "s.json"
    assert main(["export", hypertensive, "--db", str(course_db), *course_reader,
                 "--format", "json", "--out", str(out)]) == 0
    treatment = json.loads(out.read_text())["treatment"]
    assert treatment["protocol"] == "ketamine-iv"
    assert treatment["checklist"]["weight_kg"] == 81 and treatment["checklist"]["flagged"] == {
        "antihypertensive": ["amlodipine"]}
    dose = treatment["dose"]
    assert (dose["total_mg"], dose["dose_mg_per_kg"], dose["rate_mg_per_h"]) == (40.5, 0.5, 202.5)
    assert dose["rate_changes"][0]["rate_mg_per_h"] == 101.25 and dose["delivered_mg"] > 0
    assert [i["text"] for i in treatment["interventions"]] == ["antiemetic ondansetron 4 mg IV",
                                                               "oxygen 2 L/min, route not recorded"]
    assert treatment["outcomes"]["PHQ-9"]["total"] == 10 and treatment["outcomes"]["PHQ-9"]["band"] == "moderate"
    assert treatment["outcomes"]["GAD-7"]["loinc"] == "70274-6"
    assert treatment["rems"] is None
    out = tmp_path / "n.json"
    assert main(["export", nasal, "--db", str(course_db), *course_reader, "--format", "json", "--out", str(out)]) == 0
    form = json.loads(out.read_text())["treatment"]["rems"]
    assert form["complete"] and form["fields"]["dose_mg"]["value"] == 84
    assert form["fields"]["patient"]["value"] == "Tom Okafor"


def test_deidentified_exports_stay_deidentified(course_db: Path, course_reader: list[str], tmp_path: Path) -> None:
    nasal = _sessions(course_db)[3]
    for fmt in ("json", "hl7", "fhir"):
        out = tmp_path / f"n.{fmt}"
        assert main(["export", nasal, "--db", str(course_db), *course_reader, "--format", fmt, "--deidentify", "--out",
                     str(out)]) == 0
        text = out.read_text()
        for identifier in (MRN, "Tom Okafor", "Okafor", "1979-11-02", NURSE):
            assert identifier not in text, (fmt, identifier)
    form = json.loads((tmp_path / "n.json").read_text())["treatment"]["rems"]
    assert form["fields"]["patient"]["value"] is None and form["fields"]["lot"]["value"] == "LOT-20"

    # The course JSON too: no date and no clock time of the session, anywhere in it.
    course_out = tmp_path / "course.json"
    assert main(["course", MRN, "--db", str(course_db), *course_reader, "--deidentify", "--out", str(course_out)]) == 0
    course = json.loads(course_out.read_text())
    [item] = [s for s in course["sessions"] if s["rems"] is not None]
    fields = item["rems"]["fields"]
    assert fields["session_date"]["value"] is None and fields["first_spray_at"]["value"] is None
    assert 0 <= fields["first_spray_at"]["after_start_s"] < 3600 and item["rems"]["submitted_at"] is None
    with Store(course_db) as store:
        started = float(store.session_row(nasal)["started_at"])
    text = course_out.read_text()
    for identifier in (MRN, "Tom Okafor", NURSE, time.strftime("%Y-%m-%d", time.gmtime(started)),
                       str(int(started))[:6]):
        assert identifier not in text, identifier


def test_hl7_carries_scores_with_loinc_and_the_dose(course_db: Path) -> None:
    first = _sessions(course_db)[0]
    with Store(course_db) as store:
        record = load(store, first)
    text = "".join(messages(record))
    obx = [seg for seg in text.split("\r") if seg.startswith("OBX") and "|F|" in seg]
    by_code = {seg.split("|")[3].split("^")[0]: seg.split("|") for seg in obx}
    assert by_code["44261-6"][5] == "18" and by_code["44261-6"][3].endswith("^LN")
    assert by_code["70274-6"][5] == "12"
    assert by_code["dose-planned-mg"][5] == "40.5" and by_code["dose-planned-mg"][6] == "mg^mg^UCUM"
    assert by_code["dose-planned-mg-per-kg"][5] == "0.5"
    assert "dose-delivered-mg" in by_code


def test_fhir_has_survey_observations_and_a_medication_administration(course_db: Path) -> None:
    first = _sessions(course_db)[0]
    written = io.StringIO()
    with Store(course_db) as store:
        fhir_export.write(load(store, first), written)  # the export as streamed to a file
    # Parsed back and validated by fhir.resources as one whole Bundle.
    resources = [e.resource for e in Bundle.model_validate(json.loads(written.getvalue())).entry]
    surveys = {r.code.coding[0].code: r for r in resources if r.__resource_type__ == "Observation"
               and r.category[0].coding[0].code == "survey"}
    assert surveys["44261-6"].valueInteger == 18 and surveys["70274-6"].valueInteger == 12
    assert len(surveys["44261-6"].component) == 9
    given = [r for r in resources if r.__resource_type__ == "MedicationAdministration"]
    assert len(given) == 1
    assert given[0].medicationCodeableConcept.text == "ketamine"
    # The rate changed during the infusion (202.5 to 101.25 mg/h): one rate would misstate what ran.
    assert given[0].dosage.rateQuantity is None
    noted = " ".join(n.text for n in given[0].note)
    assert "planned rate 202.5 mg/h" in noted and "rate 101.25 mg/h from " in noted
    assert given[0].status == "completed"


def test_rems_worksheet_and_pdf_report(course_db: Path, course_reader: list[str], tmp_path: Path) -> None:
    nasal = _sessions(course_db)[3]
    with Store(course_db) as store:
        forms = rems_forms(store, load_course_by_mrn(store, MRN))
    stream = io.BytesIO()
    write_rems_worksheet(forms[nasal], stream)
    assert stream.getvalue().startswith(b"%PDF")
    out = tmp_path / "s.pdf"
    assert main(["export", nasal, "--db", str(course_db), *course_reader, "--format", "pdf", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF")


def test_the_report_names_the_phases_as_the_sessions_protocol_does(
    course_db: Path, course_reader: list[str], tmp_path: Path
) -> None:
    """A nasal-spray session's report says pre-dose, dosing and observation; an IV one baseline, infusion, recovery."""
    texts = {}
    for name, session_id in (("iv", _sessions(course_db)[0]), ("nasal", _sessions(course_db)[3])):
        out = tmp_path / f"{name}.pdf"
        assert main(["export", session_id, "--db", str(course_db), *course_reader,
                     "--format", "pdf", "--out", str(out)]) == 0
        texts[name] = "\n".join(page.extract_text() for page in PdfReader(out).pages)
    words = {name: " ".join(text.split()) for name, text in texts.items()}
    assert "phases reached: pre-dose → dosing → observation → complete" in words["nasal"]
    assert "by the plan (pre-dose 5 min, dosing 5 min, observation 116 min)" in words["nasal"]
    assert "phases reached: baseline → infusion → recovery → complete" in words["iv"]
    assert "by the plan (baseline 3 min, infusion 12 min, recovery 12 min)" in words["iv"]
    for name, names in (("nasal", ["pre-dose", "dosing", "observation"]), ("iv", ["baseline", "infusion", "recovery"])):
        table = texts[name].split("Statistics by phase")[1].split("Baseline and end of recovery")[0]
        first_cells = [line.strip() for line in table.splitlines() if line.strip() in {
            "pre-dose", "dosing", "observation", "baseline", "infusion", "recovery"}]
        assert list(dict.fromkeys(first_cells)) == names, (name, first_cells)
    timeline = words["nasal"].split("Timeline")[-1]
    assert "Pre-dose started" in timeline and "Dosing started" in timeline and "Observation started" in timeline
    assert "infusion" not in timeline.lower() and "baseline started" not in timeline.lower()
    # Its title and its return-to-baseline table name a nasal spray as such (both said "infusion").
    assert "page 1 Esketamine intranasal session report" in words["nasal"]
    assert "page 1 Ketamine infusion session report" in words["iv"]
    assert "Back within band after dosing ended" in words["nasal"] and "after infusion ended" in words["iv"]


def test_the_report_says_the_treatment_and_the_scoring_in_words(
    course_db: Path, course_reader: list[str], tmp_path: Path
) -> None:
    """Checklist flags read yes/no, a discharge item as the form names it, oxygen given with no route says so, and
    the timeline names every entry in words (it printed True, nausea_vomiting, "oxygen oxygen" and dose_planned)."""
    out = tmp_path / "hypertensive.pdf"
    assert main(["export", _sessions(course_db)[1], "--db", str(course_db), *course_reader,
                 "--format", "pdf", "--out", str(out)]) == 0
    text = " ".join("\n".join(page.extract_text() for page in PdfReader(out).pages).split())
    assert "fasting: 6.0 h; escort: yes; transport: partner; consent: yes; weight: 81.0 kg" in text
    assert "PADSS nausea/vomiting 2/2" in text
    assert "oxygen 2 L/min, route not recorded" in text
    timeline = text.split("Timeline")[-1]
    for label in ("Session started", "Checklist", "Dose planned", "Questionnaire", "Baseline taken", "Intervention"):
        assert label in timeline, label
    for unreadable in ("True", "False", "nausea_vomiting", "oxygen oxygen", "nasal cannula", "patient_identified",
                       "dose_planned", "session started"):
        assert unreadable not in text, unreadable


def test_the_fhir_encounter_of_a_nasal_spray_is_not_an_infusion(course_db: Path) -> None:
    types = {}
    for name, session_id in (("iv", _sessions(course_db)[0]), ("nasal", _sessions(course_db)[3])):
        written = io.StringIO()
        with Store(course_db) as store:
            fhir_export.write(load(store, session_id), written)
        resources = [e.resource for e in Bundle.model_validate(json.loads(written.getvalue())).entry]
        [encounter] = [r for r in resources if r.__resource_type__ == "Encounter"]
        types[name] = encounter.type[0].text
    assert types == {"iv": "Ketamine infusion session with vital-sign monitoring",
                     "nasal": "Esketamine intranasal session with vital-sign monitoring"}


def test_csv_events_name_the_entries(course_db: Path, course_reader: list[str]) -> None:

    first = _sessions(course_db)[0]
    out = io.StringIO()
    assert main(["export", first, "--db", str(course_db), *course_reader, "--format", "csv-events"], out=out) == 0
    rows = {row["kind"]: row for row in csv_rows(out.getvalue())}
    assert rows["dose_planned"]["text"] == "dose 40.5 mg (0.5 mg/kg) at 202.5 mg/h"
    assert rows["outcome_score"]["text"] == "GAD-7 12 (moderate)"  # the last of the two questionnaires
    assert json.loads(rows["checklist"]["detail_json"])["weight_kg"] == 81


# One format and one kind of export a test: all three formats took 35-55 s on one worker, and FHIR alone, both kinds,
# up to 105 s on a loaded machine, the last test of a run.
@pytest.mark.parametrize("deidentified", [False, True], ids=["identified", "deidentified"])
@pytest.mark.parametrize("fmt", ["json", "hl7", "fhir"])
def test_streamed_exports_of_treated_sessions_match_the_whole_record_writers(
        course_db: Path, tmp_path: Path, fmt: str, deidentified: bool) -> None:
    """Doses, questionnaire totals and the REMS form interleave with the streamed readings as before."""
    from monitor.exports import export_file
    from monitor.exports.data import ExportOptions
    from tests.monitor.records import export_oracle

    oracle = {"json": export_oracle.json_write, "hl7": export_oracle.hl7_write, "fhir": export_oracle.fhir_write}[fmt]
    options = ExportOptions(deidentify=True, resample_s=0) if deidentified else ExportOptions()
    with Store(course_db) as store:
        for session_id in _sessions(course_db):
            expected = io.StringIO(newline="")
            oracle(load(store, session_id, options=options), expected)
            target = tmp_path / f"{session_id}.{fmt}"
            export_file(store, session_id, fmt, target, options)
            assert target.read_bytes().decode("utf-8") == expected.getvalue(), (session_id, fmt)


def test_the_report_charts_phase_names_never_write_over_each_other(course_db: Path) -> None:
    """Over a long observation the first phases are a few points wide: their names ran into one another above the
    chart ("pre-dosedosing", "bainfusionrecovery" over 15 h). Each name now takes the first of two lines where it
    clears the one before it."""
    from reportlab.graphics.shapes import String
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from monitor.exports.pdf_export import FONT, chart

    with Store(course_db) as store:
        drawing = chart(load(store, _sessions(course_db)[3]))
    names = {"pre-dose", "dosing", "observation", "complete"}
    placed = [(s.x, s.y, s.x + stringWidth(s.text, FONT, s.fontSize)) for s in drawing.contents
              if isinstance(s, String) and s.text in names]
    assert len(placed) >= 3
    for i, (x0, y, x1) in enumerate(placed):
        for a0, b, a1 in placed[i + 1:]:
            assert y != b or a0 >= x1 or x0 >= a1, f"{(x0, y, x1)} and {(a0, b, a1)} overlap"
    assert len({y for _, y, _ in placed}) == 2  # the dosing name went up a line, clear of pre-dose


def test_the_worksheet_names_the_zone_of_its_dates_and_times(course_db: Path) -> None:
    """Printed where the clock is not the clinic's (a server in UTC), an evening session's worksheet gave the next
    day's date and a first spray five hours later, with no word of the zone."""
    from tests.conftest import time_zone

    nasal = _sessions(course_db)[3]
    texts = {}
    for zone in ("America/New_York", "UTC"):
        with time_zone(zone), Store(course_db) as store:
            form = rems_forms(store, load_course_by_mrn(store, MRN))[nasal]
            stream = io.BytesIO()
            write_rems_worksheet(form, stream)
        texts[zone] = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(stream.getvalue())).pages)
                               .split())
    assert "(date in EDT, UTC-0400)" in texts["America/New_York"] and "EDT (UTC-0400)" in texts["America/New_York"]
    assert "(date in UTC, UTC+0000)" in texts["UTC"] and "UTC (UTC+0000)" in texts["UTC"]


def test_the_course_report_names_each_zone_its_dates_are_in(course_db: Path) -> None:
    """A course from July to November said "(date in EDT, UTC-0400)", the zone of its first session, though its
    later sessions (and the next one due) were in EST."""
    from dataclasses import replace

    from monitor import course_export
    from tests.conftest import time_zone

    def header(shift_days: float) -> str:
        with time_zone("America/New_York"), Store(course_db) as store:
            course = load_course_by_mrn(store, MRN)
            later = tuple(replace(r, started_at=r.started_at + shift_days * 86_400) for r in course.rows[2:])
            course = replace(course, rows=(*course.rows[:2], *later), next_due_at=None)
            stream = io.BytesIO()
            course_export.write_pdf(course, stream)
        page = PdfReader(io.BytesIO(stream.getvalue())).pages[0]
        return " ".join(page.extract_text().split())

    assert "(date in EDT, UTC-0400)" in header(0)  # all in summer: one zone, said as before
    across = header(100)  # the later sessions in November
    assert "(dates in EDT (UTC-0400) or EST (UTC-0500), as the clock was on each date)" in across
    assert "date in EDT, UTC-0400" not in across
