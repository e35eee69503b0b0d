"""Who read which patient's sessions is written into the database (README: "Listing, reviewing and exporting
write who read what into the database")."""

from __future__ import annotations

import io
import json
from pathlib import Path

from monitor.cli import main
from monitor.store import Store
from tests.monitor.course.recording import MRN


def test_listing_the_sessions_with_their_patients_is_in_the_audit_log(tmp_path: Path) -> None:
    from monitor.plan import SessionPlan
    from monitor.protocols import load_protocol
    from tests.monitor.course.recording import record

    db = tmp_path / "monitor.db"
    record(db, load_protocol("ketamine-iv"), start=1_722_000_000.0, plan=SessionPlan(1, 2, 1))
    with Store(db, readonly=True) as reader:
        before = len(reader.audit_log())
    out = io.StringIO()
    assert main(["sessions", "--db", str(db), "--json"], out=out) == 0
    assert MRN in out.getvalue()  # the patients' MRNs, decrypted
    with Store(db, readonly=True) as reader:
        after = reader.audit_log()[before:]
    assert after, "the patients' MRNs were listed and nothing says who read them"


def test_opening_a_session_for_review_is_in_the_audit_log(qtbot: object, tmp_path: Path) -> None:
    from tests.ui.review_sessions import record
    from ui.dialogs import SignedInUser
    from ui.review_window import ReviewWindow

    db = tmp_path / "monitor.db"
    session_id = record(db, mrn=MRN, plan="baseline:1,infusion:2,recovery:1")
    with Store(db, readonly=True) as reader:
        before = len(reader.audit_log())
    window = ReviewWindow(db, session_id, SignedInUser("Dr Mensah", "physician"))
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    with Store(db, readonly=True) as reader:
        after = [dict(a) for a in reader.audit_log()[before:]]
    assert any(a["session_id"] == session_id and a["user"] == "Dr Mensah" for a in after), (
        f"Dr Mensah opened session {session_id[:8]} (its patient {MRN}) and the audit log says nothing: {after}")


def test_the_session_browser_records_each_listed_session_once(qtbot: object, tmp_path: Path) -> None:
    from tests.ui.review_sessions import record
    from ui.dialogs import SignedInUser
    from ui.session_browser import SessionBrowser

    db = tmp_path / "monitor.db"
    session_id = record(db, mrn=MRN, plan="baseline:1,infusion:2,recovery:1")
    browser = SessionBrowser(db, SignedInUser("Dr Mensah", "physician"))
    qtbot.addWidget(browser)  # type: ignore[attr-defined]
    for text in ("M", "MR", ""):  # every keystroke in the MRN filter lists again
        browser.mrn_edit.setText(text)
    with Store(db, readonly=True) as reader:
        listed = [dict(a) for a in reader.audit_log() if a["action"] == "sessions_listed"]
    assert [(a["user"], json.loads(a["detail"])["sessions"]) for a in listed] == [("Dr Mensah", [session_id])], listed
