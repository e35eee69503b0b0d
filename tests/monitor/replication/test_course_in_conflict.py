"""The course of an MRN the server holds with two identities (Chair 1: Ann Lee born 1970-03-01; Chair 2, a week
later: Ann Lee born 1981-11-30) is not presented as one person's. Before, it warned, but its header still named one
person ("Ann Lee - MRN 4711 - born 1970-03-01", JSON ``patient.birth_date`` the first chair's), both sessions
counted toward one series ("Done: 2 of the series", one next due date), and no row said which chair or session it
was, so the warning's sessions could not be matched to the rows."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pypdf

from monitor.cli import main
from monitor.course import load_course_by_mrn
from monitor.replication import server_store
from tests.conftest import Clinic
from tests.monitor.replication.test_identity_conflicts import FIRST, OTHER_BIRTH, _two_chairs


def _course(reader: str, tmp_path: Path, fmt: str, *more: str) -> bytes:
    """What ``course 4711 --server`` writes in ``fmt``."""
    out = tmp_path / f"course.{fmt}"
    assert main(["course", "4711", "--server", reader, "--db", str(tmp_path / "office.db"), "--format", fmt,
                 "--out", str(out), *more], out=io.StringIO()) == 0
    return out.read_bytes()


def _due(start: float, days: float) -> str:
    """The next due date of a record whose only infusion began at ``start`` (the series interval later)."""
    wall = datetime.fromtimestamp(start).astimezone().replace(tzinfo=None) + timedelta(days=days)
    return datetime.fromtimestamp(wall.astimezone().timestamp()).strftime("%Y-%m-%d")


def test_the_json_names_no_one_person_and_counts_each_record_on_its_own(clinic: Clinic, tmp_path: Path) -> None:
    first, second, _ = _two_chairs(clinic, tmp_path, {"name": "Ann Lee", "birth_date": OTHER_BIRTH})
    data = json.loads(_course(clinic.role("reader"), tmp_path, "json"))
    assert data["patient"] == {"mrn": "4711", "name": None, "birth_date": None}
    assert (data["series_done"], data["boosters"], data["next_due"]) == (None, None, None)
    assert [(r["number"], r["name"], r["birth_date"], r["session_ids"], r["series_done"], r["boosters"])
            for r in data["records"]] == [(1, "Ann Lee", FIRST["birth_date"], [first], 1, 0),
                                           (2, "Ann Lee", OTHER_BIRTH, [second], 1, 0)]
    assert data["records"][0]["where"] == f"Chair 1 (session {first[:8]})"
    dues = [r["next_due"] for r in data["records"]]
    assert all(dues) and dues[0] < dues[1]  # each record's own: a week apart, as their sessions are
    # Each row names its chair and record, and is numbered within its record.
    assert [(s["session_id"], s["record"], s["chair"], s["number"]) for s in data["sessions"]] == [
        (first, 1, "Chair 1", 1), (second, 2, "Chair 2", 1)]
    # De-identified: the records keep where and the count, not who.
    plain = json.loads(_course(clinic.role("reader"), tmp_path, "json", "--deidentify"))
    assert plain["patient"] is None and [(r["name"], r["birth_date"]) for r in plain["records"]] == [(None, None)] * 2
    assert FIRST["birth_date"] not in json.dumps(plain) and OTHER_BIRTH not in json.dumps(plain)


def test_the_pdf_header_lists_both_records_and_each_row_its_chair(clinic: Clinic, tmp_path: Path) -> None:
    first, second, _ = _two_chairs(clinic, tmp_path, {"name": "Ann Lee", "birth_date": OTHER_BIRTH})
    reader = clinic.role("reader")
    pdf = _course(reader, tmp_path, "pdf")
    text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages).split())
    assert "Ann Lee - MRN 4711" not in text and "Done: 2 of the series" not in text
    assert "NOT ONE PERSON: the clinic's server holds MRN 4711 with different identities" in text
    with server_store.ServerStore(reader) as store:
        course = load_course_by_mrn(store, "4711")
    interval = course.plan.interval_days
    assert (f"Record 1: Ann Lee - born {FIRST['birth_date']} - Chair 1 (session {first[:8]}). Done: 1 of the series, "
            f"0 booster(s). Next session due: {_due(course.rows[0].started_at, interval)}.") in text
    assert (f"Record 2: Ann Lee - born {OTHER_BIRTH} - Chair 2 (session {second[:8]}). Done: 1 of the series, "
            f"0 booster(s). Next session due: {_due(course.rows[1].started_at, interval)}.") in text
    assert f"record 1: Chair 1, {first[:8]}" in text and f"record 2: Chair 2, {second[:8]}" in text
    plain = _course(reader, tmp_path, "pdf", "--deidentify")
    text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(plain)).pages).split())
    assert "NOT ONE PERSON" in text and f"Record 2: Chair 2 (session {second[:8]})" in text
    assert "Ann Lee" not in text and "4711" not in text and OTHER_BIRTH not in text
