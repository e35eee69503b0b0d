"""The clinic server's audit log and its readers: a station's or reviewer's login gets only what a review needs.

A reader's login could ``SELECT * FROM audit`` on the server and read every chair's sign-ins, correction reasons and
export destinations, which the chair shows only to a signed-in admin or physician. Since schema 9 it reads the
audit log only through ``im_readers_audit``: a session's alarm profile and its close after a crash.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import psycopg
import pytest

from monitor.cli import main
from monitor.replication import replicator as replicator_module
from monitor.replication import schema
from monitor.replication.server_store import ServerStore, chair_rows
from monitor.store import Store
from tests.conftest import Clinic
from tests.monitor.replication.shipping import record_for, replicate

PROFILE = {"profile": "ketamine-adult", "label": "Ketamine adult v3 (approved)", "source": "/etc/im/ketamine.toml",
           "sha256": "ab" * 32, "approved_by": "Dr Approver"}
#: What a reader must never get from the server's audit log.
PRIVATE = ("sign_in", "note_corrected", "export")


def _chair_with_audit(db: Path, mrn: str, seed: int) -> str:
    """A session at a chair whose audit log holds what a review needs and what it must not see."""
    session_id = record_for(db, mrn, 1_790_000_000.0, seed)
    with Store(db) as store:
        store.audit("sign_in", user="nurse1", role="nurse")
        store.audit("alarm_profile_loaded", user="nurse1", session_id=session_id, **PROFILE)
        store.audit("note_corrected", user="nurse1", session_id=session_id, reason="named the patient's sister")
        store.audit("export", user="drphys", session_id=session_id, destination="/home/drphys/usb/a.json")
        store.audit("session_closed_after_crash", user="nurse1", session_id=session_id)
    return session_id


def _refused_audit(url: str) -> None:
    """The login at ``url`` may not read the audit table, whole or in part."""
    with psycopg.connect(url, autocommit=True) as conn:
        for query in ("SELECT * FROM audit", "SELECT count(*) FROM audit", "SELECT action, detail FROM audit"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table audit"):
                conn.execute(query)


def test_a_reader_reads_only_what_a_review_needs_of_the_audit_log(clinic: Clinic, tmp_path: Path) -> None:
    db, other_db = tmp_path / "chair.db", tmp_path / "other.db"
    session_id = _chair_with_audit(db, "MRN-31", 1)
    other = _chair_with_audit(other_db, "MRN-32", 2)
    chair = clinic.role("chair")
    replicate(db, chair)
    replicate(other_db, clinic.role("chair"))
    reader = clinic.role("reader")

    _refused_audit(reader)
    # The server's owner (IT) still reads every entry of every chair.
    with psycopg.connect(clinic.admin_url) as admin:
        actions = {row[0] for row in admin.execute("SELECT action FROM audit WHERE session_id = %s", [session_id])}
    assert {"alarm_profile_loaded", "note_corrected", "export", "session_closed_after_crash"} <= actions

    with ServerStore(reader) as server:
        entries = server.audit_log(session_id)
        every_chair = server.audit_log()
    assert [(e["action"], e["user"]) for e in entries] == [("alarm_profile_loaded", None),
                                                           ("session_closed_after_crash", None)]
    # Of the profile, what names it; not who approved it nor where its file lay.
    assert json.loads(entries[0]["detail"]) == {k: PROFILE[k] for k in ("label", "profile", "sha256")}
    assert entries[1]["detail"] is None
    # The session browser marks the sessions closed after a crash at every chair.
    assert {e["session_id"] for e in every_chair if e["action"] == "session_closed_after_crash"} == {session_id, other}
    assert not {e["action"] for e in every_chair} & set(PRIVATE)

    # A chair's login gets the same, of its own sessions only.
    with ServerStore(chair) as own:
        assert {e["session_id"] for e in own.audit_log()} == {session_id}
        assert own.audit_log(other) == []


def test_the_station_review_export_and_course_still_read_the_server(clinic: Clinic, tmp_path: Path) -> None:
    db = tmp_path / "chair.db"
    session_id = _chair_with_audit(db, "MRN-41", 3)
    replicate(db, clinic.role("chair"))
    reader, office = clinic.role("reader"), tmp_path / "office.db"
    _refused_audit(reader)  # and yet every read below works

    with psycopg.connect(reader, autocommit=True) as conn:  # the station's view of the chairs
        assert [row.chair for row in chair_rows(conn)] != []
    with ServerStore(reader) as server:  # the review's
        assert [s.id for s in server.sessions()] == [session_id]
        assert len(server.events(session_id)) > 0
    exported = tmp_path / "a.json"
    assert main(["export", session_id, "--server", reader, "--db", str(office), "--format", "json",
                 "--out", str(exported)]) == 0
    assert json.loads(exported.read_text())["session"]["alarm_profile"] == PROFILE["label"]
    course = tmp_path / "course.json"
    assert main(["course", "MRN-41", "--server", reader, "--db", str(office), "--out", str(course)]) == 0
    assert [s["session_id"] for s in json.loads(course.read_text())["sessions"]] == [session_id]


def test_server_migrate_takes_the_audit_table_from_a_reader_of_schema_8(
    clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor import server as local_server

    old = Clinic(clinic.server, f"{clinic.database}_v8", clinic.folder)
    db = tmp_path / "chair.db"
    session_id = _chair_with_audit(db, "MRN-51", 4)
    with monkeypatch.context() as schema_8:
        schema_8.setattr(schema, "SCHEMA_VERSION", 8)
        schema_8.setattr(replicator_module, "CHAIR_SCHEMA", 8)  # a chair of the earlier version
        local_server.create_database(clinic.server, old.database)
        replicate(db, old.role("chair"))
    reader = old.role("reader")
    with psycopg.connect(reader) as conn:  # what schema 8 let a reader do
        assert conn.execute("SELECT count(*) FROM audit WHERE action = 'note_corrected'").fetchone() == (1,)
    assert main(["server", "migrate", "--url", old.admin_url], out=io.StringIO()) == 0
    _refused_audit(reader)
    with ServerStore(reader) as server:
        assert [e["action"] for e in server.audit_log(session_id)] == ["alarm_profile_loaded",
                                                                       "session_closed_after_crash"]
