"""The clinic's PostgreSQL under faults, with real chair processes replicating to a real server.

* the server killed with SIGKILL mid-session and restarted;
* a chair cut off from the server for 30 s (its login refused and its connections dropped, as a
  network partition), while the station stays connected and must raise, then clear, "not reporting";
* a chair process killed with SIGKILL while replicating, then resumed.

Each ends with the server holding exactly what the chair holds: per session and table, the same
number of rows and the same checksum, so nothing is missing and nothing is there twice.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from monitor import server as local_server
from monitor.replication import compare
from monitor.station import StationFeed, StationModel
from tests.faults.helpers import CommandLine, until

PLAN = "baseline:2,infusion:30,recovery:10"
#: How long the chair is cut off: three times the 10 s the station may take to raise it, and half a minute of rows
#: held at the chair to send when it is back.
CUT_OFF_S = 30


@pytest.fixture
def own_server() -> Iterator[local_server.LocalServer]:
    """A server these tests may kill (not the run's shared one)."""
    folder = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-faults-"))
    yield local_server.start(folder)
    local_server.remove(folder)


def _chair(server: local_server.LocalServer, name: str) -> str:
    passfile = local_server.add_role(server, name, kind="chair")
    return f"{server.url(name)}?passfile={passfile}"


def _record(db: Path, url: str, *extra: str, speed: str = "20") -> CommandLine:
    return CommandLine("record", "--db", str(db), "--speed", speed, "--pleth", "--plan", PLAN, "--nurse", "RN",
                       "--quiet", "--server", url, "--chair", db.stem, *extra)


def _origin(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT value FROM replication_state WHERE key = 'origin'").fetchone()[0])


def _pending(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM replication_outbox").fetchone()[0])


def _assert_exact_copy(db: Path, server: local_server.LocalServer) -> dict[str, int]:
    origin = _origin(db)
    totals: dict[str, int] = {}
    with sqlite3.connect(db) as local, psycopg.connect(server.admin_url()) as remote:
        for (session_id,) in local.execute("SELECT id FROM sessions").fetchall():
            mine = compare.local_digests(local, session_id)
            assert mine == compare.server_digests(remote, session_id, [origin])
            for digest in mine:
                totals[digest.table] = totals.get(digest.table, 0) + digest.rows
        # Nothing from this chair beyond its sessions either (e.g. duplicated under another key).
        for table in ("readings", "waveforms", "events"):
            on_server = remote.execute(
                sql.SQL("SELECT COUNT(*) FROM {} WHERE origin = %s").format(sql.Identifier(table)), [origin]
            ).fetchone()
            assert on_server == (totals[table],)
    return totals


def test_server_killed_mid_session_and_restarted(own_server: local_server.LocalServer, tmp_path: Path) -> None:
    db = tmp_path / "chair1.db"
    reader = local_server.add_role(own_server, "station_kill", kind="reader")
    model = StationModel()
    links: list[bool] = []
    feed = StationFeed(f"{own_server.url('station_kill')}?passfile={reader}", model.apply,
                       lambda up, _error: links.append(up))
    feed.start()
    chair = _record(db, _chair(own_server, "chair1"), "--duration", "20")
    try:
        until(lambda: bool(model.views()), 15, "the chair's tile")
        local_server.kill(own_server.data)
        assert local_server.running(own_server.data) is None
        # The station knows it has lost the server (its banner says the chairs are not visible).
        until(lambda: not feed.connected, 10, "the station noticing the server is gone")
        time.sleep(4)  # recording goes on meanwhile; the outbox grows
        assert _pending(db) > 0
        local_server.start(own_server.data)
        until(lambda: feed.connected, 15, "the station reconnecting")
        until(lambda: bool(model.views()) and not model.station_alarms(), 15, "the chair back on the station")
        assert chair.finish(60) == 0
    finally:
        if chair.process.poll() is None:
            chair.kill()
        feed.stop()
    # Up, lost with the server, up again after the restart, closed at the end.
    lost = links.index(False)
    assert links[0] is True and True in links[lost:] and links[-1] is False
    assert any("everything stored here is on the server" in line for line in chair.output()), chair.output()
    totals = _assert_exact_copy(db, own_server)
    assert totals["readings"] > 500 and totals["waveforms"] > 20


def test_chair_cut_off_for_30_s_is_raised_at_the_station_and_catches_up(
    own_server: local_server.LocalServer, tmp_path: Path
) -> None:
    db = tmp_path / "chair2.db"
    chair_url = _chair(own_server, "chair2")
    reader = local_server.add_role(own_server, "station_faults", kind="reader")
    model = StationModel()

    def on_report(report: object) -> None:
        model.apply(report)  # type: ignore[arg-type]

    feed = StationFeed(f"{own_server.url('station_faults')}?passfile={reader}", on_report)
    feed.start()
    chair = _record(db, chair_url, "--duration", "55", speed="5")
    try:
        deadline = time.monotonic() + 20
        while not model.views() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [v.chair for v in model.views()] == ["chair2"]
        with psycopg.connect(own_server.admin_url(), autocommit=True) as admin:
            admin.execute("ALTER ROLE chair2 NOLOGIN")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'chair2'")
            cut_at = time.monotonic()
            raised_after = None
            while time.monotonic() - cut_at < CUT_OFF_S:
                offline = [a for a in model.station_alarms() if a.condition == "chair_offline"]
                if offline and raised_after is None:
                    raised_after = time.monotonic() - cut_at
                time.sleep(0.25)
            assert raised_after is not None and raised_after <= 10.0, raised_after
            assert _pending(db) > 0
            admin.execute("ALTER ROLE chair2 LOGIN")
            back_at = time.monotonic()
        while any(a.condition == "chair_offline" for a in model.station_alarms()):
            assert time.monotonic() - back_at < 15, "the offline alarm was not cleared"
            time.sleep(0.1)
        # The half minute held at the chair is sent while it records on (what is left at its end gets a few seconds).
        until(lambda: _pending(db) < 200, timeout=30, what="the chair catching up")
        assert chair.finish(90) == 0
    finally:
        if chair.process.poll() is None:
            chair.kill()
        feed.stop()
    try:
        _assert_exact_copy(db, own_server)
    except AssertionError:
        print("the chair printed:", *chair.output(), sep="\n")
        raise


def test_chair_killed_9_while_replicating_then_resumed(own_server: local_server.LocalServer, tmp_path: Path) -> None:
    db = tmp_path / "chair3.db"
    url = _chair(own_server, "chair3")
    first = _record(db, url, speed="60")
    time.sleep(5)
    first.kill()
    with sqlite3.connect(db) as conn:
        session_id = conn.execute("SELECT id FROM sessions").fetchone()[0]
    resumed = _record(db, url, "--resume", session_id[:8], "--duration", "4", speed="60")
    assert resumed.finish(60) == 0
    assert _pending(db) == 0
    totals = _assert_exact_copy(db, own_server)
    assert totals["sessions"] == 1 and totals["readings"] > 500


def test_chair_database_deleted_while_replicating_goes_on_to_the_server_from_its_written_back_file(
    own_server: local_server.LocalServer, tmp_path: Path
) -> None:
    """The writer writes the deleted file back under its name and records on there; the server link must follow
    it, or everything recorded after the deletion waits for the next start of the program."""
    db = tmp_path / "chair4.db"
    chair = _record(db, _chair(own_server, "chair4"), "--duration", "16")
    try:
        until(lambda: _server_readings(own_server, db) > 50, 20, "the first readings on the server")
        deleted, origin = os.stat(db).st_ino, _origin(db)
        db.unlink()
        chair.wait_for("its complete data were written back to it", 10)
        assert os.stat(db).st_ino != deleted
        assert chair.finish(60) == 0
    finally:
        if chair.process.poll() is None:
            chair.kill()
    assert any("everything stored here is on the server" in line for line in chair.output()), chair.output()
    assert _pending(db) == 0
    # Still the same history on the server, not sent again under a new origin as if from another file.
    assert _origin(db) == origin
    totals = _assert_exact_copy(db, own_server)
    assert totals["readings"] > 500


def _server_readings(server: local_server.LocalServer, db: Path) -> int:
    """The chair's readings on the server (0 before the chair has made its outbox)."""
    try:
        origin = _origin(db)
    except (sqlite3.Error, TypeError):
        return 0
    with psycopg.connect(server.admin_url()) as remote:
        row = remote.execute("SELECT COUNT(*) FROM readings WHERE origin = %s", [origin]).fetchone()
    return int(row[0]) if row else 0
