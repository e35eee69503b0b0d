"""The course of a patient with several sessions recorded for real, against each session's own review."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.core.readings import Parameter
from monitor import review
from monitor.alarms.model import Priority
from monitor.cli import main
from monitor.course import CoursePlan, load_course_by_mrn, set_course_plan
from monitor.exports.data import load
from monitor.protocols import load_protocol
from monitor.session import EventKind, Phase
from monitor.store import Store
from tests.monitor.course.recording import DAY, MRN, NURSE

FIRST = 1_722_000_000.0
IV = load_protocol("ketamine-iv")
NASAL = load_protocol("esketamine-nasal")


def _review_figures(store: Store, session_id: str) -> dict[str, Any]:
    """The same figures, taken from the session's own review (whole record, Python, no SQL aggregates)."""
    record_ = load(store, session_id)
    stats = {(s.phase, s.parameter): s for s in review.phase_statistics(record_)}
    baseline = review.session_baseline(record_)
    peaks = [stats[(p, Parameter.NIBP_SYS)].maximum for p in (Phase.INFUSION, Phase.RECOVERY)]
    peaks_dia = [stats[(p, Parameter.NIBP_DIA)].maximum for p in (Phase.INFUSION, Phase.RECOVERY)]
    lows = [stats[(p, Parameter.SPO2)].minimum for p in review.REVIEW_PHASES]
    counts = {p.label: 0 for p in Priority}
    for alarm in record_.alarms:
        counts[alarm.priority.label] += 1
    discharge = review.discharge_scoring(record_)
    scores = [e for e in record_.events if e.kind is EventKind.SCORE]
    completed = next((e.t for e in record_.events if e.kind is EventKind.SESSION_COMPLETED), None)
    stopped = review.infusion_stopped_at(record_)
    outcomes = {e.detail["scale"]: e.detail for e in record_.events if e.kind is EventKind.OUTCOME_SCORE}
    return {
        "baseline_sys": None if baseline is None else baseline.nibp_sys,
        "baseline_dia": None if baseline is None else baseline.nibp_dia,
        "peak_sys": max((p for p in peaks if p is not None), default=None),
        "peak_dia": max((p for p in peaks_dia if p is not None), default=None),
        "lowest_spo2": min((v for v in lows if v is not None), default=None),
        "alarms": counts,
        "lowest_moaas": min((float(e.detail["value"]) for e in scores if e.detail["scale"] == "MOAA/S"), default=None),
        "highest_cadss": max((float(e.detail["value"]) for e in scores if e.detail["scale"] == "CADSS-6"),
                             default=None),
        "aldrete": None if discharge is None else discharge.score("aldrete")["total"],  # type: ignore[index]
        "padss": None if discharge is None else discharge.score("padss")["total"],  # type: ignore[index]
        "recovery_to_discharge_min": None if completed is None or stopped is None else round(
            (completed - stopped) / 60, 1),
        "phq9": outcomes.get("PHQ-9", {}).get("total"),
        "gad7": outcomes.get("GAD-7", {}).get("total"),
    }


def test_course_json_matches_each_sessions_review(
    course_db: Path, tmp_path: Path, signed_in_as: Callable[..., str]
) -> None:
    out = tmp_path / "course.json"
    user = signed_in_as(course_db, "dr.k")
    assert main(["course", MRN, "--db", str(course_db), "--out", str(out), "--user", user]) == 0
    data = json.loads(out.read_text())
    assert data["patient"]["mrn"] == MRN
    assert [s["protocol"] for s in data["sessions"]] == ["ketamine-iv"] * 3 + ["esketamine-nasal"]
    # Three IV infusions, then esketamine: a new treatment, whose series counts from 1 (it was counted as the
    # fourth infusion of the IV series, under the IV plan).
    assert [s["number"] for s in data["sessions"]] == [1, 2, 3, 1]
    assert [s["drug"] for s in data["sessions"]] == ["ketamine"] * 3 + ["esketamine"]
    with Store(course_db) as store:
        for item in data["sessions"]:
            expected = _review_figures(store, item["session_id"])
            for key, value in expected.items():
                assert item[key] == value, (item["number"], key, item[key], value)
            if item["baseline_sys"] is not None and item["peak_sys"] is not None:
                assert item["rise_sys_mmhg"] == round(item["peak_sys"] - item["baseline_sys"], 1)
                assert item["rise_sys_percent"] == round(100 * item["rise_sys_mmhg"] / item["baseline_sys"], 1)
    iv = data["sessions"][:3]
    # The scenarios show through: the hypertensive session rises most, the desaturating one dips lowest.
    assert max(iv, key=lambda s: s["rise_sys_mmhg"])["number"] == 2
    assert min(iv, key=lambda s: s["lowest_spo2"])["number"] == 3
    assert [s["phq9"] for s in data["sessions"]] == [18, 10, 4, 1]
    assert [s["phq9_band"] for s in data["sessions"]] == ["moderately severe", "moderate", "minimal", "minimal"]
    assert [s["gad7_band"] for s in iv] == ["moderate", "mild", "minimal"]
    assert [s["nausea_vomiting"] for s in iv] == [False, True, False]
    assert iv[1]["interventions"] == ["antiemetic ondansetron 4 mg IV", "oxygen 2 L/min, route not recorded"]
    # Dose: 81 kg x 0.5 mg/kg = 40.5 mg over 12 min (202.5 mg/h), halved after 4 min.
    assert iv[0]["dose_mg"] == 40.5 and iv[0]["dose_mg_per_kg"] == 0.5
    assert iv[0]["delivered_mg"] == pytest.approx(202.5 * 4 / 60 + 101.25 * 8 / 60, abs=0.15)
    nasal = data["sessions"][3]
    assert nasal["dose_mg"] == 84 and nasal["delivered_mg"] == 84
    assert nasal["rems"]["complete"] and nasal["rems"]["fields"]["lot"]["value"] == "LOT-20"
    assert data["rems_not_submitted"] == [nasal["session_id"]]
    # The esketamine protocol's usual course (8, twice a week): one given, the next due 3.5 days after it.
    assert data["plan"]["planned_sessions"] == 8 and (data["drug"], data["series_done"]) == ("esketamine", 1)
    with Store(course_db, readonly=True) as store:
        course = load_course_by_mrn(store, MRN)
    assert course.next_due_at == pytest.approx(course.rows[-1].started_at + 3.5 * DAY, abs=3600)
    # A fixed dose is no dose per kilogram (56 or 84 mg read as 0.7 or 1.05 mg/kg beside IV's 0.5).
    assert nasal["dose_mg_per_kg"] is None and data["sessions"][0]["dose_mg_per_kg"] == 0.5
    with Store(course_db) as store:
        assert any(a["action"] == "course_export" for a in store.audit_log())


def test_course_plan_boosters_csv_and_deidentified_json(
    course_db: Path, course_reader: list[str], tmp_path: Path
) -> None:
    with Store(course_db) as store:
        course = load_course_by_mrn(store, MRN)
        # The plan set is the treatment's now (esketamine, one session given): a series of one is done, so the
        # next is due at the booster interval; the IV sessions before keep the IV protocol's series.
        set_course_plan(store, course.patient_id, CoursePlan(1, 3.0, 30.0), user="dr.k")
        course = load_course_by_mrn(store, MRN)
        assert [(r.number, r.kind) for r in course.rows] == [(1, "series"), (2, "series"), (3, "series"),
                                                             (1, "series")]
        assert (course.drug, course.series_done, course.boosters) == ("esketamine", 1, 0)
        assert course.next_due_at == course.rows[-1].started_at + 30 * DAY
        set_course_plan(store, course.patient_id, CoursePlan(6, 2.5, 28.0), user="dr.k")
    out = io.StringIO()
    assert main(["course", MRN, "--db", str(course_db), *course_reader, "--format", "csv"], out=out) == 0
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 4 and rows[1]["alarms_high"] != "" and rows[0]["protocol"] == "ketamine-iv"
    assert rows[1]["interventions"] == "antiemetic ondansetron 4 mg IV; oxygen 2 L/min, route not recorded"
    out = io.StringIO()
    assert main(["course", MRN, "--db", str(course_db), *course_reader, "--deidentify"], out=out) == 0
    text = out.getvalue()
    for identifier in (MRN, "Tom Okafor", "1979-11-02", NURSE):
        assert identifier not in text
    data = json.loads(text)
    assert [s["day"] for s in data["sessions"]] == [0, 3, 6, 10]
    out = io.StringIO()  # the de-identified CSV keeps the days between sessions, and no date
    assert main(["course", MRN, "--db", str(course_db), *course_reader,
                 "--format", "csv", "--deidentify"], out=out) == 0
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [float(r["day"]) for r in rows] == [0, 3, 6, 10] and {r["started_at"] for r in rows} == {""}


def test_course_pdf_and_errors(
    course_db: Path, course_reader: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf = tmp_path / "course.pdf"
    assert main(["course", MRN, "--db", str(course_db), *course_reader, "--format", "pdf", "--out", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 3000
    assert main(["course", "NOBODY", "--db", str(course_db), *course_reader]) == 1
    assert "no patient with MRN 'NOBODY'" in capsys.readouterr().err
    assert main(["course", MRN, "--db", str(course_db), *course_reader, "--format", "pdf"]) == 1
    assert "needs --out" in capsys.readouterr().err


def test_a_course_of_one_session_makes_a_pdf_and_a_failed_one_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line chart of one session had one point: reportlab refused it, and the target was left empty."""
    from pypdf import PdfReader

    from monitor import course_export
    from tests.monitor.test_protection import MRN as ONE_MRN
    from tests.monitor.test_protection import _identified_session

    db = tmp_path / "one.db"
    _identified_session(db)
    pdf = tmp_path / "one.pdf"
    assert main(["course", ONE_MRN, "--db", str(db), "--format", "pdf", "--out", str(pdf)]) == 0
    assert len(PdfReader(pdf).pages) >= 1

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the report failed half-way")

    monkeypatch.setattr(course_export, "write", broken)
    failed = tmp_path / "failed.pdf"
    assert main(["course", ONE_MRN, "--db", str(db), "--format", "pdf", "--out", str(failed)]) == 1
    assert not failed.exists()
    before = pdf.read_bytes()  # a report that fails leaves the one it would have replaced as it was
    assert main(["course", ONE_MRN, "--db", str(db), "--format", "pdf", "--out", str(pdf)]) == 1
    assert pdf.read_bytes() == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_session_stopped_before_its_infusion_is_shown_but_not_counted(tmp_path: Path) -> None:
    """CLINICAL.md: an initial series is six infusions; a visit that ended before the dose is not one of them."""
    from monitor.course import course_dict, csv_rows, next_due
    from monitor.course_export import write_pdf
    from monitor.plan import SessionPlan
    from tests.monitor.course.recording import Script, record

    db = tmp_path / "m.db"
    # Day 0: the baseline is started and the session is stopped (e.g. BP too high): no infusion.
    record(db, IV, start=FIRST, plan=SessionPlan(30, 40, 30), stop_after_s=4 * 60)
    for k in range(1, 7):  # then six infusions, 2.5 days apart
        script = Script([
            (Phase.BASELINE, 10, "checklist", {"quick": "f6 e c m- w80"}),
            (Phase.BASELINE, 20, "plan_dose", {"weight_kg": 80, "dose_mg_per_kg": 0.5}),
        ])
        record(db, IV, start=FIRST + k * 2.5 * DAY, plan=SessionPlan(1, 40, 30), script=script, stop_after_s=8 * 60)
    with Store(db) as store:
        course = load_course_by_mrn(store, MRN)
    assert [(r.number, r.kind) for r in course.rows] == [
        (None, "no_infusion"), *[(k, "series") for k in range(1, 7)]]
    assert (course.series_done, course.boosters) == (6, 0)
    assert course.next_due_at == course.rows[-1].started_at + course.plan.booster_interval_days * DAY
    assert course_dict(course)["sessions"][0]["number"] is None
    assert [row[:2] for row in csv_rows(course)][1:3] == [["", "no_infusion"], [1, "series"]]
    pdf = io.BytesIO()
    write_pdf(course, pdf)  # the unnumbered row has its place in the table and the charts
    assert pdf.getvalue().startswith(b"%PDF")
    # Five infusions after the stopped visit: the series is not done, so the series interval follows the 5th.
    assert next_due(course.rows[:6], course.plan) == course.rows[5].started_at + course.plan.interval_days * DAY


def _bar_charts(flowables: list[Any]) -> dict[str, Any]:
    """The bar charts of a report's story, by the title drawn above each."""
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.platypus import Table

    found: dict[str, Any] = {}
    todo = list(flowables)
    while todo:
        item = todo.pop()
        if isinstance(item, Table):
            todo += [cell for row in item._cellvalues for cell in row]
        elif isinstance(item, Drawing):
            title = next(c.text for c in item.contents if isinstance(c, String))
            found.update((title, c) for c in item.contents if isinstance(c, VerticalBarChart))
    return found


def test_a_session_without_the_value_has_no_bar_in_the_course_report(tmp_path: Path) -> None:
    """A session that scored no CADSS-6 was drawn as a bar of 0 in the report's dissociation chart (and one
    without a cuff in the infusion as a rise of 0): read as measured. It has no bar now."""
    from monitor.course_export import story
    from tests.monitor.test_protection import MRN as ONE_MRN
    from tests.monitor.test_protection import _identified_session

    db = tmp_path / "one.db"
    _identified_session(db)
    with Store(db, readonly=True) as store:
        course = load_course_by_mrn(store, ONE_MRN)
    assert [r.highest_cadss for r in course.rows] == [None]
    charts = _bar_charts(story(course))
    assert list(charts["Dissociation per session (highest CADSS-6)"].data) == [(None,)]
    rise = charts["Blood-pressure rise per session (mmHg above baseline)"].data
    assert list(rise) == [tuple(r.rise_sys_mmhg for r in course.rows), tuple(r.rise_dia_mmhg for r in course.rows)]
