"""One chair's login can neither hide its real tile behind a made-up one nor take the nurse station down.

With nothing but Chair A's own password, someone could mark Chair A's live row ended, hold the row locked so
the real chair could not refresh it, and publish a second "Chair A" with normal values, while the patient had
SpO2 82 and two high-priority alarms. The station said "0 station alarms", the chair said nothing. With Chair B's
login one could lock the whole ``chairs`` table: the station showed every chair "not reporting" without the cause,
and no chair said anything. With the station's login one could open 294 connections, and no chair could connect.
Each step is tried here against a real PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from monitor.alarms.model import Priority
from monitor.replication import schema, server_writes
from monitor.replication.replicator import Replicator
from monitor.station import ChairReport, StationFeed, StationModel
from monitor.store import Store
from tests.conftest import Clinic, dead_pid, record_simulated
from tests.monitor.replication.shipping import drain


def _login(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["user"])


def _recording(db: Path) -> str:
    """A session in ``db`` as one still being recorded (mid-infusion); returns its id."""
    session_id = record_simulated(db, seed=7)
    with Store(db) as store, store.transaction():
        store.db.execute("UPDATE sessions SET status = 'recording', ended_at = NULL, phase = 'infusion', "
                         "owner_pid = ? WHERE id = ?", [dead_pid(), session_id])
    return session_id


def _alarming(session_id: str) -> dict[str, Any]:
    """The chair's live status: SpO2 82 and PR 45, each a high-priority alarm."""
    now = time.time()
    alarms = [{"id": f"a-{name}", "condition": f"{name}_low_severe", "priority": 3, "kind": "physiological",
               "message": text, "started_at": now, "acknowledged": False, "latched": False}
              for name, text in (("spo2", "SpO2 82 < 90 %"), ("pr", "PR 45 < 50 /min"))]
    return {"active": True, "session_id": session_id, "now": now, "phase": "infusion",
            "values": {"spo2": 82.0, "pr": 45.0}, "value_times": {"spo2": now, "pr": now}, "alarms": alarms}


def _alarming_chair(db: Path, url: str) -> tuple[Replicator, str]:
    """Chair A recording a session in ``db`` and reporting it alarming under the login of ``url`` (not started);
    the session's id."""
    session_id = _recording(db)
    chair = Replicator(db, url, chair_name="Chair A", heartbeat_s=0.5)
    chair.publish(_alarming(session_id))
    return chair, session_id


def _until(what: str, holds: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not holds():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


@pytest.fixture
def chair_said(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """What the chair's replicator has said so far (its warnings, as ``record`` prints them)."""
    caplog.set_level(logging.WARNING, logger="monitor.replication.replicator")
    return lambda: [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@contextmanager
def _station(reader: str, model: StationModel) -> Iterator[queue.Queue[tuple[bool, str | None]]]:
    links: queue.Queue[tuple[bool, str | None]] = queue.Queue()
    feed = StationFeed(reader, model.apply, lambda up, error: links.put((up, error)))
    feed.start()
    try:
        yield links
    finally:
        feed.stop()


def test_a_chair_login_cannot_end_and_hold_its_real_tile_and_show_a_made_up_one(
    clinic: Clinic, tmp_path: Path, chair_said: Callable[[], list[str]]
) -> None:
    url, reader = clinic.role("chair", "chair_a"), clinic.role("reader")
    chair, session_id = _alarming_chair(tmp_path / "chair-a.db", url)
    model = StationModel()
    chair.start()
    try:
        with _station(reader, model):
            drain(chair)
            _until("Chair A alarming at the station", lambda: model.sounding() == Priority.HIGH)
            with psycopg.connect(url, autocommit=True) as attacker, psycopg.connect(url, autocommit=True) as other:
                row = attacker.execute("SELECT origin, name, host, live FROM chairs").fetchone()
                assert row is not None and row[0] == chair.origin
                origin, name, host, live = row
                # The audit's own statements: a chair's login no longer writes or locks its rows of chairs directly.
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    attacker.execute("""UPDATE chairs SET live = live || '{"active": false}' WHERE origin = %s""",
                                     [origin])
                with pytest.raises(psycopg.errors.InsufficientPrivilege), attacker.transaction():
                    attacker.execute("SELECT 1 FROM chairs WHERE origin = %s FOR UPDATE", [origin])
                # What it still can: end the tile through the server's own function, then again in a transaction
                # it keeps open (holding the row), and publish a second "Chair A" with normal values under a chair
                # database of its own.
                ended = json.dumps(dict(live, active=False))
                fake = json.dumps(dict(live, alarms=[], values={"spo2": 98.0, "pr": 72.0}, now=time.time()))
                server_writes.publish_chair(attacker, name, origin, host, ended)
                with attacker.transaction():
                    server_writes.publish_chair(attacker, name, origin, host, ended)
                    server_writes.publish_chair(other, name, uuid.uuid4().hex, host, fake)
                    # The chair says within seconds that the station cannot see it, and why.
                    _until("the chair says its live status is held up",
                           lambda: not chair.status().connected and "locked" in (chair.status().error or ""))
                    assert chair.status().brief == ("STATION CANNOT SEE THIS CHAIR", False)
                    assert any(s.startswith("server link lost: the server kept this chair's live status waiting")
                               for s in chair_said()), chair_said()
                    # The station keeps the real tile, with its alarms, and says it left without completing.
                    _until("the real tile said to be left open",
                           lambda: any(a.condition == "chair_left_open" for a in model.station_alarms()))
                    views = model.views()
                    real = next(v for v in views if v.key == f"chair_a/{origin}")
                    made_up = next(v for v in views if v.key != real.key)
                    assert not real.current and {a.message for a in real.tile.alarms} == {
                        "SpO2 82 < 90 %", "PR 45 < 50 /min"}
                    assert model.sounding() == Priority.HIGH
                    # Two tiles under one name and login: both say so.
                    for view in (real, made_up):
                        assert view.shared_with == ("Chair A",)
                    alarms = [a.message for a in model.station_alarms() if a.condition == "login_shared"]
                    assert len(alarms) == 2 and all(a.startswith("Chair A: TWO TILES named Chair A under login "
                                                                 "chair_a") for a in alarms), alarms
            # Let go: the chair is back on its tile and says so.
            chair.publish(_alarming(session_id))
            _until("the real tile current again", lambda: any(
                v.key == f"chair_a/{origin}" and v.tile.active and v.current for v in model.views()))
            _until("the chair back", lambda: chair.status().connected)
            assert any(s.startswith("server link back") for s in chair_said())
    finally:
        chair.stop(timeout=1.0)


@contextmanager
def _locked(url: str, table: str) -> Iterator[None]:
    """``table`` locked whole by the login of ``url`` for as long as the block runs."""
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(table)))
        try:
            yield
        finally:
            conn.rollback()


def test_a_table_locked_by_a_chair_login_is_said_at_the_station_and_at_the_other_chair(
    clinic: Clinic, tmp_path: Path, chair_said: Callable[[], list[str]]
) -> None:
    chair_a, chair_b, reader = clinic.role("chair"), clinic.role("chair"), clinic.role("reader")
    with psycopg.connect(chair_b) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("LOCK TABLE chairs IN ACCESS EXCLUSIVE MODE")
    db = tmp_path / "chair-a.db"
    chair, session_id = _alarming_chair(db, chair_a)
    model = StationModel()
    chair.start()
    try:
        with _station(reader, model) as links:
            drain(chair)
            _until("Chair A at the station", lambda: bool(model.views()))
            # A chair's login may still change (so lock) the tables of its rows: the station reads sessions too.
            with _locked(chair_b, "sessions"):
                chair.publish(dict(_alarming(session_id), phase="recovery"))
                with Store(db) as store, store.transaction():  # a row to ship into the locked table
                    store.db.execute("UPDATE sessions SET phase = 'recovery' WHERE id = ?", [session_id])
                chair.nudge()
                while True:
                    up, error = links.get(timeout=15.0)
                    if not up and error and "read of the chairs" in error:
                        break
                assert error is not None and error.startswith(
                    "the server kept the station's read of the chairs waiting over 2 s for rows another connection "
                    "holds locked"), error
                _until("the other chair says its rows are held up",
                       lambda: "locked" in (chair.status().error or ""))
                assert any("kept this chair's rows waiting" in s for s in chair_said()), chair_said()
            _until("the station back", lambda: links.get(timeout=15.0)[0])
            drain(chair)
    finally:
        chair.stop(timeout=1.0)


def test_one_login_cannot_take_every_connection(clinic: Clinic) -> None:
    reader, chair = clinic.role("reader"), clinic.role("chair")
    with psycopg.connect(clinic.admin_url, autocommit=True) as admin:
        limits = dict(admin.execute("SELECT rolname, rolconnlimit FROM pg_roles WHERE rolname = ANY(%s)",
                                    [[_login(reader), _login(chair)]]).fetchall())
        assert limits == {_login(reader): schema.READER_CONNECTIONS, _login(chair): schema.CHAIR_CONNECTIONS}
        # A login made by hand (as the README tells a clinic with its own PostgreSQL) gets its limit at migrate.
        by_hand = sql.Identifier(f"by_hand_{uuid.uuid4().hex[:8]}")
        admin.execute(sql.SQL("CREATE ROLE {0} LOGIN; GRANT im_reader TO {0}").format(by_hand))
        assert schema.migrate(admin) == schema.SCHEMA_VERSION
        limit = admin.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s",
                              [by_hand.as_string(admin).strip('"')]).fetchone()
        assert limit == (schema.READER_CONNECTIONS,)
        admin.execute(sql.SQL("DROP ROLE {}").format(by_hand))
    held: list[psycopg.Connection] = []
    try:
        held.extend(psycopg.connect(reader) for _ in range(schema.READER_CONNECTIONS))
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            psycopg.connect(reader)
        with psycopg.connect(chair) as conn:  # the chairs still get in
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        for connection in held:
            connection.close()


def test_a_tile_ended_while_its_session_is_open_on_the_server_stays_and_is_said() -> None:
    """The station's side alone: an ended tile whose session the server holds open is kept, and said once it has
    stood as long as silence does; an ended tile whose session ended leaves."""
    clock = [100.0]
    model = StationModel(clock=lambda: clock[0])
    live = _alarming("s-1")

    def report(document: dict[str, Any], *, origin: str = "o1", session_open: bool = True) -> ChairReport:
        from monitor.replication.live import parse_tile

        return ChairReport("chair_a", "Chair A", parse_tile(document), "MRN-A2", None, origin,
                           session_open=session_open)

    model.apply(report(live))
    model.apply(report(dict(live, active=False)))
    assert [v.current for v in model.views()] == [True]
    clock[0] += model.offline_after_s  # its chair says nothing more: held up, or gone
    assert [a.condition for a in model.station_alarms()] == ["chair_offline", "chair_left_open"]
    assert model.sounding() == Priority.HIGH  # its alarms still sound
    model.apply(report(dict(live, active=False), session_open=False))
    assert model.views() == [] and model.station_alarms() == []
