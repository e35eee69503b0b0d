"""A chair restored from its backup onto a new computer (or path) and its session resumed there: the tile of its
former database leaves the station, and no made-up tile can take a real one off that way.

The case of a restore drill: Chair 1 recorded, its computer died (``kill -9``), its backup went onto a new computer and
``record --resume`` went on with the session from there, under a new origin. The station showed two "Chair 1 ·
MRN-IT-001" tiles for the rest of the infusion: the old one "NOT REPORTING for 86 s" and both "TWO TILES named
Chair 1 under login chair_1", "4 active chairs" for 3, through a station restart.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from monitor.replication.live import parse_tile
from monitor.replication.replicator import Replicator
from monitor.replication.schema import FORMER_AFTER_S
from monitor.station import ChairReport, StationFeed, StationModel
from monitor.store import Store
from tests.conftest import Clinic, dead_pid, record_simulated
from tests.monitor.replication.shipping import drain

OLD, NEW = "o-old", "o-new"


def _live(session_id: str, *, active: bool = True) -> dict[str, Any]:
    now = time.time()
    return {"active": active, "session_id": session_id, "now": now, "phase": "infusion",
            "values": {"spo2": 96.0, "pr": 80.0}, "value_times": {"spo2": now, "pr": now}, "alarms": []}


def _report(origin: str, *, session_origin: str = NEW, active: bool = True, chair: str = "chair_1",
            name: str = "Chair 1", silent_s: float = 0.0) -> ChairReport:
    """Chair 1's database ``origin`` reporting session s-1, which the server holds as ``session_origin``'s."""
    return ChairReport(chair, name, parse_tile(_live("s-1", active=active)), "MRN-IT-001", None, origin,
                       silent_s=silent_s, session_open=True, session_origin=session_origin)


def _station(clock: list[float]) -> StationModel:
    return StationModel(clock=lambda: clock[0])


def test_the_former_database_of_a_chair_resumed_elsewhere_leaves_without_an_alarm() -> None:
    clock = [1000.0]
    # As the station finds them (or finds them again after a restart): the old row ended by the server, silent
    # since the computer died; the restored database reports the same session, which the server holds as its own.
    for ended in (True, False):  # ended by the server (same computer), or not (another computer)
        model = _station(clock)
        model.apply(_report(OLD, active=not ended, silent_s=FORMER_AFTER_S + 15))
        model.apply(_report(NEW))
        views = model.views()
        assert [(v.key, v.current, v.shared_with) for v in views] == [(f"chair_1/{NEW}", True, ())]
        assert model.station_alarms() == []


def test_a_tile_of_the_same_session_does_not_take_off_a_chair_that_still_reports() -> None:
    """The protections stay: only a database silent as long as the server's own rule for a former one, whose session
    the server holds as the other's, leaves; a tile of another login or another name never takes one off."""
    clock = [1000.0]
    model = _station(clock)
    model.apply(_report(OLD, active=False, silent_s=FORMER_AFTER_S - 5))
    model.apply(_report(NEW))
    assert {v.key for v in model.views()} == {f"chair_1/{OLD}", f"chair_1/{NEW}"}  # silent 25 s: both, both said
    assert sorted(a.condition for a in model.station_alarms()) == [
        "chair_left_open", "chair_offline", "login_shared", "login_shared"]
    clock[0] += 5.0
    assert [v.key for v in model.views()] == [f"chair_1/{NEW}"]

    # A made-up tile of the session, the server holding the session as the real chair's: the real one stays.
    for made_up in (_report(NEW, session_origin=OLD), _report(NEW, chair="chair_2"),
                    _report(NEW, name="Chair 7")):
        model = _station(clock)
        model.apply(_report(OLD, active=False, session_origin=made_up.session_origin,
                            silent_s=FORMER_AFTER_S + 15))
        model.apply(made_up)
        assert {v.key for v in model.views()} == {f"chair_1/{OLD}", made_up.key}
        assert "chair_left_open" in {a.condition for a in model.station_alarms()}

    # The real chair still reporting, a second tile holding its session: both stay, both say so.
    model = _station(clock)
    model.apply(_report(OLD, session_origin=NEW))
    model.apply(_report(NEW))
    clock[0] += FORMER_AFTER_S + 1
    model.apply(_report(OLD, session_origin=NEW))
    model.apply(_report(NEW))
    assert len(model.views()) == 2
    assert [a.condition for a in model.station_alarms()] == ["login_shared", "login_shared"]


def _until(what: str, holds: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not holds():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def test_a_chair_restored_and_resumed_at_a_new_path_has_one_tile_at_the_station(
    clinic: Clinic, tmp_path: Path
) -> None:
    url, reader = clinic.role("chair", "chair_restored"), clinic.role("reader")
    db = tmp_path / "monitor.db"
    session_id = record_simulated(db, seed=7)
    with Store(db) as store, store.transaction():  # mid-infusion when its computer died
        store.db.execute("UPDATE sessions SET status = 'recording', ended_at = NULL, phase = 'infusion', "
                         "owner_pid = ? WHERE id = ?", [dead_pid(), session_id])
    old = Replicator(db, url, chair_name="Chair 1", heartbeat_s=0.2)
    old.publish(_live(session_id))
    old.start()
    drain(old)
    backup = tmp_path / "backup.db"
    with sqlite3.connect(db) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    record_simulated(db, seed=8, start_time=1_790_100_000.0)  # after the backup: the server is further on
    old.nudge()
    drain(old)
    old.stop(goodbye=False)  # kill -9
    with psycopg.connect(clinic.admin_url, autocommit=True) as server:  # silent since, as in the drill
        server.execute("UPDATE chairs SET seen_at = now() - make_interval(secs => %s) WHERE origin = %s",
                       [FORMER_AFTER_S + 10, old.origin])
    restored = tmp_path / "new-computer" / "monitor.db"
    restored.parent.mkdir()
    with sqlite3.connect(backup) as src, sqlite3.connect(restored) as dst:
        src.backup(dst)
    with Store(restored) as store, store.transaction():  # record --resume takes the session over
        store.db.execute("UPDATE sessions SET owner_pid = ? WHERE id = ?", [os.getpid(), session_id])
    model = StationModel()
    feed = StationFeed(reader, model.apply)
    new = Replicator(restored, url, chair_name="Chair 1", heartbeat_s=0.2)
    new.publish(_live(session_id))
    new.start()
    try:
        drain(new)
        assert new.origin != old.origin  # database_origin_renewed
        feed.start()
        _until("the restored chair's tile at the station", lambda: any(
            v.key == f"chair_restored/{new.origin}" for v in model.views()))
        for _ in range(3):  # a few of the feed's rounds: the former tile never comes back
            time.sleep(0.5)
            new.publish(_live(session_id))
            views = model.views()
            assert [(v.key, v.tile.session_id, v.shared_with) for v in views] == [
                (f"chair_restored/{new.origin}", session_id, ())]
            assert model.station_alarms() == []
    finally:
        feed.stop()
        new.stop(timeout=1.0)
