"""When a patient's next session is due, across a daylight-saving change."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf
import pytest

from monitor import course_export
from monitor.course import CoursePlan, load_course_by_mrn, set_course_plan
from monitor.store import Store
from tests.monitor.records.lifecycle import advance, new, run, to_infusion

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_booster_28_days_after_a_session_past_midnight_is_due_28_calendar_days_later(
    db_path: Path, berlin: None
) -> None:
    start = datetime(2026, 10, 19, 0, 30, tzinfo=BERLIN).timestamp()  # CEST; 28 days later it is CET
    with Store(db_path) as store:
        rec = new(store, start=start, patient="MRN-DUE")
        to_infusion(rec)
        advance(rec, 60)
        run(rec, "stop_infusion", reason="short")
        rec.stop()
        rec.close()
        course = load_course_by_mrn(store, "MRN-DUE")
        set_course_plan(store, course.patient_id, CoursePlan(1, 2.5, 28), user="RN")
        course = load_course_by_mrn(store, "MRN-DUE")
        out = io.BytesIO()
        course_export.write(store, course, "pdf", out, user="RN")
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(out.getvalue())).pages)
    flat = " ".join(text.split())
    assert "Next session due: 2026-11-16" in flat, flat[flat.find("Next session"):][:40]


def test_a_deidentified_course_report_gives_each_session_the_day_its_json_gives(db_path: Path) -> None:
    import json

    from tests.monitor.records.lifecycle import T0

    with Store(db_path) as store:
        for days in (0.0, 3.5, 24.5):
            rec = new(store, start=T0 + days * 86_400, patient="MRN-DAYS")
            advance(rec, 30)
            rec.stop()
            rec.close()
        course = load_course_by_mrn(store, "MRN-DAYS")
        text_out, pdf_out = io.StringIO(), io.BytesIO()
        course_export.write(store, course, "json", text_out, deidentify=True, user="RN")
        course_export.write(store, course, "pdf", pdf_out, deidentify=True, user="RN")
    days_in_json = [s["day"] for s in json.loads(text_out.getvalue())["sessions"]]
    assert days_in_json == [0.0, 3.5, 24.5]
    text = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf_out.getvalue())).pages).split())
    # Each row: "day D", then its session's id, then its protocol.
    rows = [part.split(" ketamine-iv")[0].split(" ")[0] for part in text.split("day ")[1:] if " ketamine-iv" in part]
    assert rows == ["0", "3.5", "24.5"]
