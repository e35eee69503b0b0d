"""``rems --server URL``: the REMS forms still due at every chair, and any chair's worksheet, from the clinic's server.

Each chair listed and printed only its own forms; the clinic's compliance person walked to every chair. A form marked
submitted at its chair reaches the server with its audit entry (schema 11 gives readers that entry) and is no longer
listed there.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pypdf import PdfReader

from monitor.app.exports import mark_rems_submitted
from monitor.cli import main
from monitor.plan import SessionPlan
from monitor.replication import schema
from monitor.replication.replicator import Replicator
from monitor.replication.server_store import ServerStore
from monitor.session import Phase
from monitor.store import Store
from tests.conftest import Clinic, account
from tests.monitor.course.conftest import NASAL
from tests.monitor.course.recording import Script, record
from tests.monitor.course.test_recorded_protocols import ANSWERS
from tests.monitor.replication.shipping import drain

START = 1_790_000_000.0


def _esketamine_at(db: Path, mrn: str, start: float, seed: int) -> str:
    """A whole esketamine session (its REMS form filled) recorded at the chair ``db``; its id."""
    script = Script([
        (Phase.BASELINE, 20, "checklist", {"quick": "f3 e t:partner c m:amlodipine p:na w81"}),
        (Phase.BASELINE, 30, "plan_dose", {"total_mg": 84, "lot": "LOT-20", "weight_kg": 81}),
        (Phase.RECOVERY, 33 * 60, "score", {"scale": "MOAA/S", "value": 5}),
        (Phase.RECOVERY, 33 * 60 + 5, "score", {"scale": "CADSS-6", "value": 0}),
        (Phase.RECOVERY, 33 * 60 + 10, "score", {"scale": "respiration", "value": 16, "depression": False}),
        (Phase.RECOVERY, 34 * 60, "rems_answers", {"answers": {**ANSWERS, "ready_to_leave_at": start + 40 * 60}}),
    ])
    return record(db, NASAL, start=start, plan=SessionPlan(5, 5, 116), script=script, seed=seed, mrn=mrn).session.id


def _replicate(db: Path, url: str, name: str) -> None:
    replicator = Replicator(db, url, chair_name=name)
    replicator.start()
    try:
        drain(replicator, timeout=60.0)
    finally:
        replicator.stop()


@pytest.fixture
def two_chairs(clinic: Clinic, tmp_path: Path) -> dict[str, Any]:
    """Chair 1 and Chair 2, each with an esketamine session, replicated; the form of Chair 1's marked submitted
    there before it replicated."""
    chair_1, chair_2 = tmp_path / "chair1.db", tmp_path / "chair2.db"
    submitted = _esketamine_at(chair_1, "MRN-501", START, 41)
    due = _esketamine_at(chair_2, "MRN-502", START + 86_400.0, 42)
    with Store(chair_1) as store:
        mark_rems_submitted(store, submitted, user="Ada Brennan", reference="REMS-7781",
                            incomplete_reason="the rest filled in on the worksheet")
    _replicate(chair_1, clinic.role("chair"), "Chair 1")
    _replicate(chair_2, clinic.role("chair"), "Chair 2")
    office = tmp_path / "office.db"
    return {"chair_1": chair_1, "chair_2": chair_2, "submitted": submitted, "due": due, "office": office,
            "reader": clinic.role("reader"), "user": ["--user", "compliance"],
            "secret": account(office, "compliance", "nurse")}


def _lines(argv: list[str]) -> list[str]:
    out = io.StringIO()
    assert main(argv, out=out) == 0
    return out.getvalue().splitlines()


def _audited(db: Path, action: str) -> list[dict[str, Any]]:
    with Store(db, readonly=True) as store:
        return [dict(e, detail=json.loads(e["detail"] or "{}")) for e in store.audit_log() if e["action"] == action]


def test_the_server_lists_every_chairs_forms_still_due_with_their_chair(
    two_chairs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = two_chairs
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", c["secret"])
    listed = _lines(["rems", "--server", c["reader"], "--db", str(c["office"]), *c["user"]])
    at_the_chair = _lines(["rems", "--db", str(c["chair_2"])])
    # The chair's own line, with the chair named; the form marked submitted at Chair 1 is not listed.
    assert listed == [at_the_chair[0] + "  at Chair 2", "1 REMS form(s) not yet submitted"]
    assert listed[0].startswith(c["due"][:8]) and "MRN-502" in listed[0] and "OVERDUE" in listed[0]
    assert _lines(["rems", "--db", str(c["chair_1"])]) == ["0 REMS form(s) not yet submitted"]
    # Of the submission's audit entry a reader gets what the form says (who, when, the confirmation number), not the
    # reason it went incomplete nor the fields empty in the record.
    with ServerStore(c["reader"]) as server:
        [marked] = [e for e in server.audit_log(c["submitted"]) if e["action"] == "rems_form_submitted"]
        assert server.rems_submission(c["due"]) is None
    assert (marked["user"], set(json.loads(marked["detail"]))) == (None, {"submitted_by", "submitted_at", "reference"})
    assert json.loads(marked["detail"])["reference"] == "REMS-7781"
    # Read from the server, audited where it was asked for: who, which sessions, which server.
    [entry] = _audited(c["office"], "rems_forms_listed")
    assert entry["user"] == "compliance"
    assert entry["detail"]["sessions"] == [c["due"]]
    assert "clinic_" in entry["detail"]["server"] and "passfile" not in entry["detail"]["server"]


def test_the_worksheet_from_the_server_is_the_chairs_own(
    two_chairs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = two_chairs
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", c["secret"])
    for session, chair in ((c["due"], c["chair_2"]), (c["submitted"], c["chair_1"])):
        from_server, at_chair = tmp_path / f"{session}-server.pdf", tmp_path / f"{session}-chair.pdf"
        assert _lines(["rems", "--server", c["reader"], "--db", str(c["office"]), *c["user"], "--worksheet",
                       session[:8], "--out", str(from_server)])[0].startswith(f"worksheet written to {from_server}")
        assert main(["rems", "--db", str(chair), "--worksheet", session, "--out", str(at_chair)]) == 0
        server_text = [page.extract_text() for page in PdfReader(from_server).pages]
        assert server_text == [page.extract_text() for page in PdfReader(at_chair).pages]
        assert "MRN-50" in server_text[0] or "Tom Okafor" in server_text[0]
    # The submitted form says so from the server too, as at its chair.
    assert "by Ada Brennan" in "".join(page.extract_text() for page in PdfReader(from_server).pages)
    entries = _audited(c["office"], "export")
    assert [(e["user"], e["session_id"], e["detail"]["format"]) for e in entries] == [
        ("compliance", c["due"], "rems_worksheet"), ("compliance", c["submitted"], "rems_worksheet")]
    assert all("clinic_" in e["detail"]["server"] for e in entries)


def test_an_unknown_or_ambiguous_session_is_refused_from_the_server(
    two_chairs: dict[str, Any], clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = two_chairs
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", c["secret"])
    out = tmp_path / "w.pdf"
    base = ["rems", "--server", c["reader"], "--db", str(c["office"]), *c["user"], "--out", str(out)]
    assert main([*base, "--worksheet", "ffffffff"]) == 1
    assert "no session with id 'ffffffff' on the server" in capsys.readouterr().err
    # Two sessions whose ids start alike (a third, made on the server by its owner) and a prefix of both.
    twin = c["due"][:6] + "0" * (len(c["due"]) - 6)
    with psycopg.connect(clinic.admin_url) as admin:
        admin.execute("INSERT INTO sessions (id, origin, chair, started_at, status) SELECT %s, origin, chair, "
                      "started_at, status FROM sessions WHERE id = %s", [twin, c["due"]])
    assert main([*base, "--worksheet", c["due"][:6]]) == 1
    assert "more than one session" in capsys.readouterr().err
    assert not out.exists()
    assert _audited(c["office"], "export") == []


def test_a_form_is_not_marked_submitted_from_the_server(
    two_chairs: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    c = two_chairs
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", c["secret"])
    before = _audited(c["office"], "rems_form_submitted")
    assert main(["rems", "--server", c["reader"], "--db", str(c["office"]), *c["user"], "--submitted", c["due"],
                 "--reference", "REMS-1"]) == 1
    err = capsys.readouterr().err
    assert "rems --submitted is not possible while reading the clinic's server" in err
    assert "at the chair that recorded the session" in err
    assert _audited(c["office"], "rems_form_submitted") == before == []
    with ServerStore(c["reader"]) as server:
        assert server.rems_submission(c["due"]) is None
    # Still due, on the server and at its chair.
    assert [line[:8] for line in _lines(["rems", "--db", str(c["chair_2"])])[:-1]] == [c["due"][:8]]


def test_a_server_of_an_earlier_schema_is_not_read_for_forms(
    two_chairs: dict[str, Any], clinic: Clinic, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    c = two_chairs
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", c["secret"])
    with psycopg.connect(clinic.admin_url, autocommit=True) as admin:
        admin.execute("DELETE FROM schema_version WHERE version >= %s", [schema.REMS_SUBMITTED_FROM])
    # Before schema 11 the server does not say which forms were submitted: every form would read as due.
    assert main(["rems", "--server", c["reader"], "--db", str(c["office"]), *c["user"]]) == 1
    assert "schema older than this program" in capsys.readouterr().err


def test_the_course_from_the_server_says_which_forms_were_submitted_at_their_chairs(
    two_chairs: dict[str, Any], clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``course --server`` read every form as not submitted (the submissions stayed at the chairs); since schema 11
    the server says which were, as the chair's own course does. A server of an earlier schema says nothing: every
    form then reads as not submitted, and the log says why."""
    c = two_chairs
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", c["secret"])

    def course(*where: str) -> dict[str, Any]:
        out = tmp_path / "course.json"
        assert main(["course", "MRN-501", *where, "--format", "json", "--out", str(out)]) == 0
        return dict(json.loads(out.read_text()))

    at_chair = course("--db", str(c["chair_1"]))
    from_server = course("--server", c["reader"], "--db", str(c["office"]), *c["user"])
    assert at_chair["rems_not_submitted"] == from_server["rems_not_submitted"] == []
    [row] = [s for s in from_server["sessions"] if s["session_id"] == c["submitted"]]
    [chair_row] = [s for s in at_chair["sessions"] if s["session_id"] == c["submitted"]]
    assert row["rems"]["submitted_by"] == chair_row["rems"]["submitted_by"] == "Ada Brennan"
    assert row["rems"]["submitted_at"] == chair_row["rems"]["submitted_at"]
    with psycopg.connect(clinic.admin_url, autocommit=True) as admin:
        admin.execute("DELETE FROM schema_version WHERE version >= %s", [schema.REMS_SUBMITTED_FROM])
    assert course("--server", c["reader"], "--db", str(c["office"]), *c["user"])["rems_not_submitted"] == [
        c["submitted"]]
    assert "does not say which REMS forms were submitted" in caplog.text
