"""The server's copy of a chair's record cannot be quietly rewritten with that chair's login.

A chair's login (its password sits in the chair's passfile) could UPDATE every row it had sent but the audit log's: a
reading's value, an event, an alarm, a session, and nothing on the server showed it. Since schema 10 it may only add
readings, waveforms, events and patients (as the chair only ever adds them), a change to a session or an alarm keeps
the earlier version in ``row_history`` (which the chair's login can neither read nor touch), and what a row says
once and for all (a session's start, an alarm's onset) is refused. Each is tried here against a real PostgreSQL.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import psycopg
import pytest

from monitor.alarms.engine import AlarmEngine
from monitor.cli import EXIT_ERROR, main
from monitor.replication import replicator as replicator_module
from monitor.replication import schema
from monitor.store import Store, outbox
from tests.conftest import Clinic, record_simulated
from tests.monitor.replication.shipping import assert_same, record_for, replicate

START = 1_790_000_000.0


def _login(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["user"])


def _recorded(db: Path, seed: int = 1) -> str:
    """A session with readings, waveform blocks, events, alarms and a patient; returns its id."""
    session_id = record_simulated(db, scenario="desaturation", plan="baseline:2,infusion:25,recovery:2", pleth=True,
                                  alarms=AlarmEngine(), seed=seed, start_time=START)
    with Store(db) as store:
        store.assign_patient(session_id, store.create_patient(f"MRN-70{seed}", "Ada Byron", "1990-01-02"))
    return session_id


def _first(admin_url: str, query: str, args: list[object]) -> tuple[object, ...]:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(query, args).fetchone()
    assert row is not None
    return tuple(row)


def _history(admin_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(admin_url) as conn:
        return list(conn.execute("SELECT tbl, operation, changed_by, changed_columns, previous ->> 'status' "
                                 "FROM row_history ORDER BY id").fetchall())


def test_a_chair_login_may_not_rewrite_what_its_chair_never_changes(clinic: Clinic, tmp_path: Path) -> None:
    db = tmp_path / "chair.db"
    session_id = _recorded(db)
    url = clinic.role("chair")
    replicate(db, url)
    reading = _first(clinic.admin_url, "SELECT local_id, value FROM readings WHERE session_id = %s AND "
                     "parameter = 'spo2' ORDER BY t LIMIT 1", [session_id])
    rewrites = {
        "readings": ("UPDATE readings SET value = 99 WHERE local_id = %s", [reading[0]]),
        "events": ("UPDATE events SET detail = '{}' WHERE session_id = %s", [session_id]),
        "waveforms": ("UPDATE waveforms SET samples = NULL WHERE session_id = %s", [session_id]),
        "patients": ("UPDATE patients SET name = 'Someone Else'", []),
        "audit": ("UPDATE audit SET action = 'nothing'", []),
    }
    with psycopg.connect(url, autocommit=True) as conn:
        for table, (statement, values) in rewrites.items():
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"permission denied for table {table}"):
                conn.execute(statement, values)
        # What a session and an alarm say once and for all is refused, naming it.
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="started_at is set once"):
            conn.execute("UPDATE sessions SET started_at = started_at - 3600 WHERE id = %s", [session_id])
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="condition is set once"):
            conn.execute("UPDATE alarms SET condition = 'none' WHERE session_id = %s", [session_id])
    assert _first(clinic.admin_url, "SELECT value FROM readings WHERE local_id = %s AND session_id = %s",
                  [reading[0], session_id]) == (reading[1],)
    assert _first(clinic.admin_url, "SELECT name FROM patients", []) == ("Ada Byron",)
    assert_same(db, clinic.admin_url)
    assert _history(clinic.admin_url) == []


def test_a_change_keeps_the_earlier_version_out_of_the_chair_logins_reach(clinic: Clinic, tmp_path: Path) -> None:
    db = tmp_path / "chair.db"
    session_id = _recorded(db)
    url = clinic.role("chair")
    replicate(db, url)
    chair = _login(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE sessions SET phase = 'recovery', nurse = 'Someone' WHERE id = %s", [session_id])
        # What it did is out of its reach: it can neither read, change nor remove the earlier version, nor stop it
        # being kept.
        for statement in ("SELECT * FROM row_history", "DELETE FROM row_history", "UPDATE row_history SET tbl = ''",
                          "INSERT INTO row_history (tbl, row_key, operation, previous, changed_by) "
                          "VALUES ('x', 'x', 'x', '{}', 'x')",
                          "ALTER TABLE sessions DISABLE TRIGGER sessions_keep_previous",
                          "DROP TRIGGER sessions_keep_previous ON sessions", "TRUNCATE row_history"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    assert _history(clinic.admin_url) == [("sessions", "UPDATE", chair, ["nurse", "phase"], "complete")]

    # Anyone's deletion is kept too; a reader reads it (an administrator's), the chair's login cannot.
    with psycopg.connect(clinic.admin_url) as conn:
        conn.execute("DELETE FROM alarms WHERE id = (SELECT MIN(id) FROM alarms)")
    reader = clinic.role("reader")
    out = io.StringIO()
    assert main(["server", "history", "--url", reader], out=out) == 0
    counted = out.getvalue().splitlines()
    assert counted[0].startswith(f"{chair}: 2 rows changed (alarms 1, sessions 1), 2 earlier versions kept, "
                                 "1 deleted; 1 by another login; last ")
    out = io.StringIO()
    assert main(["server", "history", "--url", reader, "--session", session_id], out=out) == 0
    listed = out.getvalue().splitlines()
    assert f"sessions {session_id} changed by {chair}: nurse was 'RN'; phase was 'complete'" in listed[0]
    assert "deleted by postgres" in listed[1] and listed[2].startswith("2 earlier versions")
    assert main(["server", "history", "--url", url], out=io.StringIO()) != 0


def test_a_replayed_batch_changes_nothing_and_a_real_change_still_arrives(clinic: Clinic, tmp_path: Path) -> None:
    db = tmp_path / "chair.db"
    session_id = _recorded(db)
    url = clinic.role("chair")
    replicate(db, url)
    first = assert_same(db, clinic.admin_url)
    # A reading altered in the chair's file (outside the program) goes out again, with every other row (as after a
    # server restored from a dump): the server keeps what it was sent first, and refuses nothing.
    local = outbox.connect(db)
    try:
        reading, value = local.execute("SELECT id, value FROM readings WHERE parameter = 'spo2' LIMIT 1").fetchone()
        local.execute("UPDATE readings SET value = 100 WHERE id = ?", [reading])
        assert outbox.queue_everything_again(local, outbox.progress(local).confirmed) > 1000
    finally:
        local.close()
    replicate(db, url)
    assert _first(clinic.admin_url, "SELECT value FROM readings WHERE local_id = %s", [reading]) == (value,)
    assert _history(clinic.admin_url) == []
    with sqlite3.connect(db) as local:
        local.execute("UPDATE readings SET value = ? WHERE id = ?", [value, reading])
    # The chair's own changes still arrive, and the server keeps what they replaced.
    with Store(db) as store, store.transaction():
        store.db.execute("UPDATE sessions SET nurse = 'Someone', heartbeat_at = 1 WHERE id = ?", [session_id])
    replicate(db, url)
    assert _first(clinic.admin_url, "SELECT nurse FROM sessions WHERE id = %s", [session_id]) == ("Someone",)
    assert _history(clinic.admin_url) == [("sessions", "UPDATE", _login(url), ["nurse"], "complete")]
    assert [d for d in assert_same(db, clinic.admin_url) if d.table != "sessions"] == [
        d for d in first if d.table != "sessions"]


def test_a_server_of_schema_9_is_migrated_with_its_rows(clinic: Clinic, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor import server as local_server

    old = Clinic(clinic.server, f"{clinic.database}_v9", clinic.folder)
    with monkeypatch.context() as schema_9:
        schema_9.setattr(schema, "SCHEMA_VERSION", 9)
        local_server.create_database(clinic.server, old.database)
    monkeypatch.setattr(replicator_module, "CHAIR_SCHEMA", 9)  # chairs on the old server
    db = tmp_path / "chair.db"
    _recorded(db)
    url = old.role("chair")
    replicate(db, url)
    before = assert_same(db, old.admin_url)

    out = io.StringIO()
    assert main(["server", "migrate", "--url", old.admin_url], out=out) == 0
    assert out.getvalue().splitlines()[0] == f"schema version {schema.SCHEMA_VERSION}"
    assert "A chair of an earlier version sends those rows in a way this schema refuses" in out.getvalue()
    monkeypatch.undo()
    assert assert_same(db, old.admin_url) == before
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE readings SET value = 99")
    record_for(db, "MRN-702", START + 86_400, seed=2)
    replicate(db, url)
    assert len(assert_same(db, old.admin_url)) == 2 * len(before)
    assert _history(old.admin_url) == []


def _sent(clinic: Clinic, tmp_path: Path) -> tuple[str, str]:
    """A session recorded and replicated by a new chair: its id and the chair's URL."""
    db = tmp_path / "chair.db"
    session_id = _recorded(db)
    url = clinic.role("chair")
    replicate(db, url)
    return session_id, url


def _history_of(url: str, given: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    """``server history --session given``: its exit status, the lines it printed and its error message."""
    out = io.StringIO()
    status = main(["server", "history", "--url", url, "--session", given], out=out)
    return status, out.getvalue().splitlines(), capsys.readouterr().err.strip()


def test_a_session_is_named_by_the_start_of_its_id_and_an_unknown_one_is_refused(
        clinic: Clinic, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session_id, url = _sent(clinic, tmp_path)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE sessions SET nurse = 'Someone' WHERE id = %s", [session_id])
        conn.execute("UPDATE sessions SET nurse = 'Someone else' WHERE id = %s", [session_id])
    reader = clinic.role("reader")
    # The 8 characters every list prints name it, as its whole id does.
    whole = _history_of(reader, session_id, capsys)
    assert whole[0] == 0 and whole[1][-1] == f"2 earlier versions of session {session_id} kept on the server"
    assert _history_of(reader, session_id[:8], capsys) == whole
    # An id that names no session is refused, not listed as a session with nothing changed.
    assert _history_of(reader, "zzzz", capsys) == (
        EXIT_ERROR, [], "infusion-monitor: error: no session with id 'zzzz' on the server (give at least its first 6 "
                        "characters)")
    assert _history_of(reader, "0" * 32, capsys) == (
        EXIT_ERROR, [], f"infusion-monitor: error: no session with id '{'0' * 32}' on the server")

    # A session deleted on the server is still named by the start of its id (its kept version holds it), and a
    # start two sessions share is refused, naming both.
    other = "0" if session_id[8] != "0" else "1"
    twin = session_id[:8] + other * (len(session_id) - 8)
    with psycopg.connect(clinic.admin_url, autocommit=True) as conn:
        conn.execute("INSERT INTO sessions SELECT * FROM jsonb_populate_record(NULL::sessions, "
                     "(SELECT to_jsonb(s) || jsonb_build_object('id', %s::text) FROM sessions s WHERE id = %s))",
                     [twin, session_id])
        conn.execute("DELETE FROM sessions WHERE id = %s", [twin])
    status, listed, _ = _history_of(reader, twin[:10], capsys)
    assert status == 0 and f"sessions {twin} deleted by postgres" in listed[0]
    assert listed[1:] == [f"1 earlier version of session {twin} kept on the server"]
    first, second = sorted([session_id, twin])
    assert _history_of(reader, session_id[:8], capsys) == (
        EXIT_ERROR, [], f"infusion-monitor: error: '{session_id[:8]}' is the start of more than one session's id on "
                        f"the server ({first}, {second}): give more of it")
    assert _history_of(reader, session_id[:9], capsys) == whole


def test_each_chairs_breakdown_counts_rows_as_its_total_does(clinic: Clinic, tmp_path: Path) -> None:
    session_id, url = _sent(clinic, tmp_path)
    chair = _login(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for nurse in ("A", "B", "C"):
            conn.execute("UPDATE sessions SET nurse = %s WHERE id = %s", [nurse, session_id])
        conn.execute("UPDATE alarms SET message = 'X' WHERE id = (SELECT MIN(id) FROM alarms)")
    out = io.StringIO()
    assert main(["server", "history", "--url", clinic.role("reader")], out=out) == 0
    assert out.getvalue().startswith(f"{chair}: 2 rows changed (alarms 1, sessions 1), 4 earlier versions kept, "
                                     "0 deleted; last ")
