"""A physician's sign-off of a finished session: who may sign, when, co-signing, and where it shows.

Before it, a clinic whose physician reviews each infusion had nowhere to record that review: an addendum said
anything anyone wrote, and no list showed which sessions were still waiting for the physician.
"""

from __future__ import annotations

import io
import json
import socket
import sqlite3
from pathlib import Path

import pytest
from pypdf import PdfReader

from monitor import review, sign_off
from monitor.app.sessions import close_unfinished
from monitor.exports import json_export, pdf_export
from monitor.exports.data import ExportOptions, deidentified, load
from monitor.integrity import verify
from monitor.session import EventKind
from monitor.store import Store
from tests.monitor.records.sessions import RecordedSession

SIGNED_AT = 1_718_100_000.0


def _sign(store: Store, session_id: str, user: str, role: str | None = "physician", comment: str | None = None,
          at: float = SIGNED_AT) -> None:
    sign_off.sign_off(store, session_id, user=user, role=role, comment=comment, now=at)


@pytest.mark.parametrize(
    ("user", "role", "refusal"),
    [
        ("RN Alvarez", "nurse", "RN Alvarez is signed in as nurse, not as a physician"),
        ("IT Admin", "admin", "IT Admin is signed in as admin, not as a physician"),
        ("os:chair", None, "sign in to a physician's account first"),
        ("EMERGENCY: Dr Who", "nurse", "signed in as nurse"),  # an emergency sign-in acts as a nurse
    ],
)
def test_only_a_physician_signs_off(recorded: RecordedSession, recorded_copy: Path, user: str, role: str | None,
                                    refusal: str) -> None:
    with Store(recorded_copy) as store:
        before = len(store.audit_log())
        with pytest.raises(sign_off.SignOffRefused, match=refusal):
            _sign(store, recorded.session_id, user, role)
        assert not [e for e in store.events(recorded.session_id) if e.kind is EventKind.SIGNED_OFF]
        assert len(store.audit_log()) == before


def test_a_sign_off_is_a_sealed_dated_audited_timeline_entry_and_the_record_is_unchanged(
    recorded: RecordedSession, recorded_copy: Path
) -> None:
    with Store(recorded_copy) as store:
        row_before = store.session_row(recorded.session_id)
        readings_before = store.reading_count(recorded.session_id)
        _sign(store, recorded.session_id, "Dr Mensah", comment=" BP rise expected; no action. ")
        [event] = [e for e in store.events(recorded.session_id) if e.kind is EventKind.SIGNED_OFF]
        assert (event.t, event.user, dict(event.detail)) == (
            SIGNED_AT, "Dr Mensah", {"role": "physician", "comment": "BP rise expected; no action."})
        audit = store.audit_log(recorded.session_id)[-1]
        assert (audit["action"], audit["user"], audit["at"]) == ("signed_off", "Dr Mensah", SIGNED_AT)
        assert json.loads(audit["detail"]) == {"role": "physician", "comment": "BP rise expected; no action."}
        assert store.session_row(recorded.session_id) == row_before  # still complete, nothing rewritten
        assert store.reading_count(recorded.session_id) == readings_before
        report = verify(store.db.conn, store.keys)
    assert report.ok, report.session_text(recorded.session_id)


def test_a_session_still_recording_or_left_unfinished_is_not_signed_off_and_a_closed_one_is(
    recorded: RecordedSession, recorded_copy: Path
) -> None:
    with Store(recorded_copy) as store:
        running = store.create_session(started_at=0.0, patient_id=None, driver="x", port=None, plan="")
        with pytest.raises(sign_off.SignOffRefused, match="still being recorded"):
            _sign(store, running, "Dr Mensah")
        store.db.execute("UPDATE sessions SET owner_pid = 0, owner_host = ? WHERE id = ?",
                         [socket.gethostname(), running])
        with pytest.raises(sign_off.SignOffRefused, match="unfinished: resume or close it"):
            _sign(store, running, "Dr Mensah")
        assert not [e for e in store.events(running) if e.kind is EventKind.SIGNED_OFF]
        close_unfinished(store, running, "RN")
        _sign(store, running, "Dr Mensah")
        assert [s.by for s in sign_off.sign_offs(store.events(running))] == ["Dr Mensah"]


def test_another_physician_co_signs_and_the_same_one_twice_is_refused(
    recorded: RecordedSession, recorded_copy: Path
) -> None:
    with Store(recorded_copy) as store:
        _sign(store, recorded.session_id, "Dr Mensah")
        with pytest.raises(sign_off.SignOffRefused, match="Dr Mensah signed this session off already"):
            _sign(store, recorded.session_id, "Dr Mensah", at=SIGNED_AT + 60)
        with pytest.raises(sign_off.SignOffRefused, match="signed this session off already"):
            _sign(store, recorded.session_id, "dr  mensah", at=SIGNED_AT + 61)  # the same name as a reader sees it
        _sign(store, recorded.session_id, "Dr Okafor", comment="Agree", at=SIGNED_AT + 3600)
        signed = sign_off.sign_offs(store.events(recorded.session_id))
        audited = [a["user"] for a in store.audit_log(recorded.session_id) if a["action"] == "signed_off"]
    assert [(s.by, s.t, s.comment) for s in signed] == [("Dr Mensah", SIGNED_AT, ""),
                                                         ("Dr Okafor", SIGNED_AT + 3600, "Agree")]
    assert audited == ["Dr Mensah", "Dr Okafor"]


def test_an_altered_sign_off_is_found_by_the_chain(recorded: RecordedSession, recorded_copy: Path) -> None:
    with Store(recorded_copy) as store:
        _sign(store, recorded.session_id, "Dr Mensah", comment="Reviewed")
    conn = sqlite3.connect(recorded_copy)
    conn.execute("UPDATE events SET user = 'Dr Someone Else', detail = '{\"role\": \"physician\"}' "
                 "WHERE kind = 'signed_off'")
    conn.commit()
    conn.close()
    with Store(recorded_copy, readonly=True) as store:
        report = verify(store.db.conn, store.keys)
    assert not report.ok
    assert not report.session_verified(recorded.session_id)
    assert "changed after it was written" in report.session_text(recorded.session_id)


def test_an_addendum_written_after_a_sign_off_says_so(recorded: RecordedSession, recorded_copy: Path) -> None:
    with Store(recorded_copy) as store:
        before = review.add_addendum(store, recorded.session_id, "Written first", user="MD", now=SIGNED_AT - 10)
        _sign(store, recorded.session_id, "Dr Mensah")
        after = review.add_addendum(store, recorded.session_id, "Written later", user="MD", now=SIGNED_AT + 10)
        record = load(store, recorded.session_id, options=ExportOptions())
    assert not sign_off.after_sign_off(before) and sign_off.after_sign_off(after)
    assert after.detail[sign_off.AFTER_SIGN_OFF_KEY] is True  # sealed with the addendum, not worked out later
    text = "\n".join(page.extract_text() for page in PdfReader(_pdf(record)).pages)
    assert "addendum (after sign-off)" in text and "addendum (after completion)" in text


def _pdf(record: object) -> io.BytesIO:
    buffer = io.BytesIO()
    pdf_export.write(record, buffer)  # type: ignore[arg-type]
    buffer.seek(0)
    return buffer


def test_the_sign_offs_are_in_the_json_and_the_pdf_and_a_deidentified_export_names_nobody(
    recorded: RecordedSession, recorded_copy: Path
) -> None:
    with Store(recorded_copy) as store:
        unsigned = load(store, recorded.session_id, options=ExportOptions())
        _sign(store, recorded.session_id, "Dr Mensah", comment="Reviewed, BP settled")
        _sign(store, recorded.session_id, "Dr Okafor", at=SIGNED_AT + 3600)
        record = load(store, recorded.session_id, options=ExportOptions())
    assert json_export.document(unsigned)["session"]["sign_offs"] == []
    doc = json_export.document(record)
    assert doc["session"]["sign_offs"] == [
        {"at": "2024-06-11T10:00:00.000+00:00", "by": "Dr Mensah", "role": "physician",
         "comment": "Reviewed, BP settled"},
        {"at": "2024-06-11T11:00:00.000+00:00", "by": "Dr Okafor", "role": "physician", "comment": ""},
    ]
    assert [e["user"] for e in doc["events"] if e["kind"] == "signed_off"] == ["Dr Mensah", "Dr Okafor"]
    anonymous = json_export.document(deidentified(record))
    assert [o["by"] for o in anonymous["session"]["sign_offs"]] == [None, None]
    assert "Mensah" not in json.dumps(anonymous)

    text = " ".join("\n".join(page.extract_text() for page in PdfReader(_pdf(record)).pages).split())
    assert "Sign-off signed off by Dr Mensah (physician) at" in text
    assert "co-signed by Dr Okafor (physician)" in text and "Reviewed, BP settled" in text
    assert "not signed off by a physician" in " ".join(
        "\n".join(p.extract_text() for p in PdfReader(_pdf(unsigned)).pages).split())
    hidden = " ".join("\n".join(p.extract_text() for p in PdfReader(_pdf(deidentified(record))).pages).split())
    assert "signed off by a physician at" in hidden and "Mensah" not in hidden


def test_the_session_search_lists_whom_signed_and_which_sessions_await_a_sign_off(
    recorded: RecordedSession, recorded_copy: Path
) -> None:
    with Store(recorded_copy) as store:
        running = store.create_session(started_at=0.0, patient_id=None, driver="x", port=None, plan="")
        awaiting = {f.summary.id for f in review.search_sessions(store, awaiting_sign_off=True)}
        assert awaiting == {recorded.session_id}  # a running session cannot be signed: it does not wait for one
        _sign(store, recorded.session_id, "Dr Mensah")
        assert review.search_sessions(store, awaiting_sign_off=True) == []
        found = {f.summary.id: f for f in review.search_sessions(store)}
    assert [s.by for s in found[recorded.session_id].sign_offs] == ["Dr Mensah"]
    assert not found[recorded.session_id].awaiting_sign_off and not found[running].awaiting_sign_off
    assert sign_off.status_text("complete", found[recorded.session_id].sign_offs) == "Dr Mensah"
    assert sign_off.status_text("closed", ()) == "awaiting" and sign_off.status_text("recording", ()) == ""
