"""A chair file put back from a backup taken while a session recorded: the session completed since, on the chair and
on the server. The copy holds it as unfinished, and takes a new origin id at its first recording with the server; but
sessions and alarms are keyed by their random ids, so its `close` or `record --resume` of that session overwrote the
server's: `complete` became `closed`, its end 40 minutes earlier, its ended alarm reopened and ended again.

The server refuses such a change from any login (schema 12); the chair refuses the close and the resume where it can
ask the server, and otherwise keeps the refused change at home, says so, and sends everything else.
"""

from __future__ import annotations

import math
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.cli import main
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.replication import schema
from monitor.replication.chair import start_replication
from monitor.replication.replicator import Replicator
from monitor.session import EventKind
from monitor.store import Store, outbox
from monitor.store.backup import copy_database
from tests.conftest import Clinic, leave_unfinished, record_simulated
from tests.monitor.replication.shipping import assert_same, drain, replicate

START = 1_790_000_000.0
#: Infusion minute 20 brings the desaturation (high, latching); the backup is taken 20 s into it.
PLAN = "baseline:2,infusion:25,recovery:2"
BACKUP_BEFORE_S = 28 * 60


def _server_row(admin_url: str, query: str, args: list[Any]) -> tuple[Any, ...]:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(query, args).fetchone()
    assert row is not None
    return tuple(row)


def _session_on_server(admin_url: str, session_id: str) -> tuple[Any, ...]:
    return _server_row(admin_url, "SELECT status, ended_at, phase FROM sessions WHERE id = %s", [session_id])


def _alarms_on_server(admin_url: str, session_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(admin_url) as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT id, state, ended_at, acknowledged_at, message FROM alarms WHERE session_id = %s ORDER BY id",
            [session_id]).fetchall()]


def _readings_on_server(admin_url: str, session_id: str) -> int:
    return int(_server_row(admin_url, "SELECT count(*) FROM readings WHERE session_id = %s", [session_id])[0])


def _backed_up_then_completed(clinic: Clinic, tmp_path: Path) -> dict[str, Any]:
    """Chair 1 recorded with the server, was backed up (its own `backup`) mid-session with an alarm on, completed;
    the backup was copied to chair1r.db."""
    url = clinic.role("chair")
    db, backup, copy = tmp_path / "chair1.db", tmp_path / "chair1.backup.db", tmp_path / "chair1r.db"
    Store(db).close()
    replicate(db, url)  # its outbox in place before the recording, as at a chair that records with the server
    store = Store(db)
    try:
        source = SimulatedSource(scenario="desaturation", seed=1, speed=math.inf, start_time=START)
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=parse_plan(PLAN),
                                        autopilot=True, nurse="RN", alarms=AlarmEngine())
        session_id = recorder.session.id
        alarm_on_at = None
        while alarm_on_at is None or recorder.session.now < alarm_on_at + 20:
            update = recorder.step(timeout=0.0)
            if alarm_on_at is None and any(c.ended_at is None for c in update.alarm_changes):
                alarm_on_at = recorder.session.now
            assert recorder.session.now < START + BACKUP_BEFORE_S, "the desaturation never came"
        recorder._maybe_flush(force=True)
        replicate(db, url)
        assert _session_on_server(clinic.admin_url, session_id)[0] == "recording"
        copy_database(db, backup)
        recorder.run()
    finally:
        store.close()
    assert recorder.end_status == "complete"
    replicate(db, url)
    finished = _session_on_server(clinic.admin_url, session_id)
    alarms = _alarms_on_server(clinic.admin_url, session_id)
    assert finished[0] == "complete" and alarms and all(a[1] == "ended" for a in alarms)

    shutil.copy(backup, copy)
    leave_unfinished(copy, session_id)  # its recording process is not running against the copy
    with Store(copy) as kept:
        assert kept.status_of(kept.session_row(session_id)) == "unfinished"
        assert any(a.ended_at is None for a in kept.alarms(session_id))  # the alarm was on at the backup
    return {"url": url, "copy": copy, "session": session_id, "finished": finished, "alarms": alarms,
            "clinic": clinic}


@pytest.fixture
def restored(clinic: Clinic, tmp_path: Path) -> dict[str, Any]:
    """As :func:`_backed_up_then_completed`; then chair1r.db recorded one session with the server (and took a new
    origin id, database_origin_renewed)."""
    r = _backed_up_then_completed(clinic, tmp_path)
    later = record_simulated(r["copy"], seed=2, start_time=START + 86_400)
    renewed = replicate(r["copy"], r["url"])
    assert renewed.status().notice is not None and "origin" in renewed.status().notice
    with Store(r["copy"]) as kept:
        assert len(outbox.origins(kept.db.conn)) == 2
    assert _readings_on_server(clinic.admin_url, later) > 0
    return r


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _offline(url: str, clinic: Clinic) -> str:
    """``url`` with a port nothing listens on: the server cannot be asked."""
    return url.replace(f":{clinic.server.port}/", f":{_closed_port()}/")


def test_the_copy_may_not_close_a_session_the_server_holds_as_finished(
    restored: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = restored
    monkeypatch.setenv("INFUSION_MONITOR_SERVER", r["url"])
    capsys.readouterr()
    assert main(["close", r["session"][:8], "--db", str(r["copy"])]) == 1
    said = capsys.readouterr().err
    assert f"session {r['session'][:8]} cannot be closed from this file" in said, said
    assert "holds it as complete, finished at " in said and "older copy" in said
    with Store(r["copy"]) as kept:  # nothing changed at the chair either
        assert kept.status_of(kept.session_row(r["session"])) == "unfinished"
    clinic = r["clinic"]
    assert _session_on_server(clinic.admin_url, r["session"]) == r["finished"]
    assert _alarms_on_server(clinic.admin_url, r["session"]) == r["alarms"]


def test_the_copy_may_not_resume_a_session_the_server_holds_as_finished(
    restored: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    r = restored
    capsys.readouterr()
    assert main(["record", "--resume", r["session"][:8], "--db", str(r["copy"]), "--server", r["url"],
                 "--speed", "30", "--duration", "5", "--quiet"]) == 1
    said = capsys.readouterr().err
    assert f"session {r['session'][:8]} cannot be resumed from this file" in said, said
    assert "holds it as complete" in said
    with Store(r["copy"]) as kept:
        assert kept.status_of(kept.session_row(r["session"])) == "unfinished"
    clinic = r["clinic"]
    assert _session_on_server(clinic.admin_url, r["session"]) == r["finished"]


def test_closed_offline_the_server_keeps_its_version_and_takes_the_rest(
    restored: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server cannot be asked: the copy closes the session at home. When it sends, the server keeps its finished
    session and its ended alarms; the chair counts the refused changes, says which session, and everything else it
    recorded (the close's own note on the timeline, a later session) reaches the server."""
    r = restored
    clinic = r["clinic"]
    monkeypatch.setenv("INFUSION_MONITOR_SERVER", _offline(r["url"], clinic))
    assert main(["close", r["session"][:8], "--db", str(r["copy"])]) == 0
    assert "not sent" in capsys.readouterr().out
    with Store(r["copy"]) as kept:
        assert kept.session_row(r["session"])["status"] == "closed"
    after = record_simulated(r["copy"], seed=3, start_time=START + 2 * 86_400)

    told: list[tuple[str, str]] = []
    replicator = Replicator(r["copy"], r["url"])
    replicator.on_notice = lambda condition, message: told.append((condition, message))
    replicator.start()
    try:
        drain(replicator)  # nothing waits: the refused changes are not tried again and again
        status = replicator.status()
    finally:
        replicator.stop()
    assert status.error is None
    assert _session_on_server(clinic.admin_url, r["session"]) == r["finished"]
    assert _alarms_on_server(clinic.admin_url, r["session"]) == r["alarms"]
    assert _readings_on_server(clinic.admin_url, after) > 0
    assert status.kept_on_server >= 2 and status.kept_sessions == (r["session"][:8],)  # the session and its alarm
    assert f"made here to session {r['session'][:8]}, which it holds as finished" in status.text
    assert [c for c, _ in told] == ["server_kept_finished"]
    assert f"session {r['session'][:8]} as finished" in told[0][1]
    with psycopg.connect(clinic.admin_url) as conn:
        closed_notes = conn.execute("SELECT count(*) FROM events WHERE session_id = %s AND kind = %s",
                                    [r["session"], EventKind.CLOSED_AFTER_CRASH.value]).fetchone()
    assert closed_notes == (1,)  # the rest of what the copy wrote reached the server


def test_resumed_offline_the_server_keeps_its_version_and_the_timeline_says_so(
    restored: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Resumed while the server cannot be asked, the copy records on into the session. At its next recording with the
    server, the link finds the server holds that session as finished: the recording's timeline and the chair's
    server line say so, and the new recording reaches the server."""
    r = restored
    clinic = r["clinic"]
    assert main(["record", "--resume", r["session"][:8], "--db", str(r["copy"]), "--server",
                 _offline(r["url"], clinic), "--speed", "30", "--duration", "2", "--quiet"]) == 0
    capsys.readouterr()
    with Store(r["copy"]) as kept:
        assert kept.session_row(r["session"])["status"] == "closed"

    store = Store(r["copy"])
    try:
        source = SimulatedSource(scenario="normal", seed=4, speed=1.0, start_time=time.time())
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, nurse="RN",
                                        plan=parse_plan("baseline:5,infusion:40,recovery:30"), alarms=AlarmEngine())
        link = start_replication(r["url"], r["copy"], recorder, "Chair 1")
        said: list[str] = []
        try:
            deadline = time.monotonic() + 60.0
            while not said and time.monotonic() < deadline:
                update = recorder.step(timeout=0.2)
                said += [str(e.detail.get("detail")) for e in update.events
                         if e.kind is EventKind.TECHNICAL and e.detail.get("condition") == "server_kept_finished"]
            drain(link)
            line = link.status().text
        finally:
            recorder.close()
            link.stop()
    finally:
        store.close()
    assert len(said) == 1 and f"session {r['session'][:8]} as finished" in said[0]
    assert f"made here to session {r['session'][:8]}, which it holds as finished" in line, line
    assert _session_on_server(clinic.admin_url, r["session"]) == r["finished"]
    # The alarms the server held stay as they were (the resumed recording's own alarms arrive beside them).
    assert [a for a in _alarms_on_server(clinic.admin_url, r["session"]) if a in r["alarms"]] == r["alarms"]
    assert _readings_on_server(clinic.admin_url, recorder.session.id) > 0


def test_a_chair_login_may_not_move_a_finished_session_or_an_ended_alarm_back(
    restored: dict[str, Any]
) -> None:
    """Whatever program sends it: the chair's own login, straight at the server."""
    r = restored
    clinic = r["clinic"]
    started = _server_row(clinic.admin_url, "SELECT started_at FROM sessions WHERE id = %s", [r["session"]])[0]
    alarm = r["alarms"][0][0]
    with psycopg.connect(r["url"], autocommit=True) as conn:
        for statement, args in (
            ("UPDATE sessions SET status = 'closed', ended_at = %s WHERE id = %s", [started + 60, r["session"]]),
            ("UPDATE sessions SET ended_at = ended_at - 2400 WHERE id = %s", [r["session"]]),
            ("UPDATE sessions SET status = 'recording', ended_at = NULL WHERE id = %s", [r["session"]]),
            ("UPDATE alarms SET ended_at = NULL, state = 'active' WHERE id = %s", [alarm]),
            ("UPDATE alarms SET acknowledged_at = 1, acknowledged_by = 'someone' WHERE id = %s", [alarm]),
            ("UPDATE alarms SET escalations = escalations || ' ' WHERE id = %s", [alarm]),
        ):
            with pytest.raises(psycopg.Error, match="on the server") as refused:
                conn.execute(statement, args)
            assert refused.value.sqlstate == schema.MOVES_BACK
        # What else a chair changes of a finished session still goes (its patient, its heartbeat).
        assert conn.execute("UPDATE sessions SET heartbeat_at = heartbeat_at WHERE id = %s",
                            [r["session"]]).rowcount == 1
    assert _session_on_server(clinic.admin_url, r["session"]) == r["finished"]
    assert _alarms_on_server(clinic.admin_url, r["session"]) == r["alarms"]


def test_a_copy_that_has_not_met_the_server_yet_closes_but_the_server_keeps_its_end(
    clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Closed before the copy ever sent (it cannot know yet that it is a copy): the close goes on at the chair; sending
    it, the copy takes a new origin id and the server keeps its finished session; the line `close` ends with says so
    rather than "closed there too"."""
    r = _backed_up_then_completed(clinic, tmp_path)
    monkeypatch.setenv("INFUSION_MONITOR_SERVER", r["url"])
    capsys.readouterr()
    assert main(["close", r["session"][:8], "--db", str(r["copy"])]) == 0
    said = capsys.readouterr().out
    assert f"made here to session {r['session'][:8]}, which it holds as finished" in said, said
    assert "closed there too" not in said
    assert _session_on_server(clinic.admin_url, r["session"]) == r["finished"]
    assert _alarms_on_server(clinic.admin_url, r["session"]) == r["alarms"]


def test_a_chair_sends_to_a_server_of_schema_11_and_the_migrate_to_12_keeps_every_row(
    clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chair of this version works against the server schema before the refusal; `server migrate` changes no row,
    and from then on a finished session stays as it is."""
    from monitor import server as local_server

    old = Clinic(clinic.server, f"{clinic.database}_v11", clinic.folder)
    with monkeypatch.context() as schema_11:
        schema_11.setattr(schema, "SCHEMA_VERSION", schema.FINISHED_STAYS_FROM - 1)
        local_server.create_database(clinic.server, old.database)
    db = tmp_path / "chair.db"
    session_id = record_simulated(db, scenario="desaturation", plan=PLAN, alarms=AlarmEngine())
    url = old.role("chair")
    replicate(db, url)
    before = assert_same(db, old.admin_url)
    with psycopg.connect(old.admin_url, autocommit=True) as conn:
        assert schema.server_version(conn) == schema.FINISHED_STAYS_FROM - 1
        assert schema.migrate(conn) == schema.SCHEMA_VERSION == schema.FINISHED_STAYS_FROM
    assert assert_same(db, old.admin_url) == before
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.Error, match="complete on the server"):
        conn.execute("UPDATE sessions SET status = 'closed' WHERE id = %s", [session_id])
