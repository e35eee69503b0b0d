"""The clinic's PostgreSQL on a real small filesystem that fills up while a chair records."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from monitor import server as local_server
from monitor.replication import compare
from monitor.station import StationFeed, StationModel
from tests.faults.helpers import CommandLine, server_disk

PLAN = "baseline:2,infusion:30,recovery:10"


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 150 MB tmpfs (needs the right to mount), at a short path: the server's socket lives in it."""
    with server_disk("150M") as mount_point:
        yield mount_point


def _fill(path: Path) -> None:
    with path.open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


def test_a_full_server_disk_does_not_blind_the_station(small_disk: Path, tmp_path: Path) -> None:
    """The server's disk is full: it refuses the chair's rows but still takes its live status. The station must go
    on showing the chair, which records normally, rather than call it 'not reporting'."""
    folder = small_disk / "pg"
    server = local_server.start(folder)
    chair = None
    feed = None
    try:
        chair_url = f"{server.url('chair_full')}?passfile={local_server.add_role(server, 'chair_full', kind='chair')}"
        reader = local_server.add_role(server, "station_full", kind="reader")
        station_url = f"{server.url('station_full')}?passfile={reader}"
        db = tmp_path / "chair_full.db"
        chair = CommandLine("record", "--db", str(db), "--speed", "5", "--pleth", "--plan", PLAN, "--nurse", "RN",
                            "--quiet", "--server", chair_url, "--chair", "Chair F", "--duration", "45")
        model = StationModel()
        feed = StationFeed(station_url, model.apply)
        feed.start()
        deadline = time.monotonic() + 30
        while not (model.views() and model.views()[0].current):
            assert time.monotonic() < deadline, "the chair never reached the station"
            time.sleep(0.1)
        _fill(small_disk / "filler")
        seen = []
        for _ in range(40):
            time.sleep(0.5)
            seen.extend(a.message for a in model.station_alarms())
        assert local_server.running(folder) is not None
        assert feed.connected
        assert not seen, f"with the server's disk full (server up, station connected): {sorted(set(seen))[:3]}"
        # Space comes back: everything the chair recorded reaches the server, once.
        (small_disk / "filler").unlink()
        assert chair.finish(90) == 0
        assert any("everything stored here is on the server" in line for line in chair.output()), chair.output()
        with sqlite3.connect(db) as local, psycopg.connect(server.admin_url()) as remote:
            origin = local.execute("SELECT value FROM replication_state WHERE key = 'origin'").fetchone()[0]
            for (session_id,) in local.execute("SELECT id FROM sessions").fetchall():
                assert compare.local_digests(local, session_id) == compare.server_digests(remote, session_id, [origin])
    finally:
        if feed is not None:
            feed.stop()
        if chair is not None and chair.process.poll() is None:
            chair.kill()
        (small_disk / "filler").unlink(missing_ok=True)
        local_server.stop(folder)
        local_server.remove(folder)
