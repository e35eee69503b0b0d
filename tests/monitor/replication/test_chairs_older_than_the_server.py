"""Chairs still on the earlier version while the server is migrated under them, as in a clinic's upgrade.

A chair made for schema 6 writes its station row straight into ``chairs``; on schema 8 and later it may not, while
its rows (sessions, heartbeats, readings) still reach the server. Before, a session such a chair started after the
migrate had no tile at all ("0 active chairs" beside a patient being monitored), and a session it ended left its tile
"not reporting", sounding, for good. Each case runs here against a real PostgreSQL, with the chair writing its row the
way that version did (:func:`tests.monitor.replication.shipping.publish_before_schema_8`).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor.alarms.model import Priority
from monitor.cli import main
from monitor.replication import replicator as replicator_module
from monitor.replication import schema, server_writes
from monitor.replication.replicator import Replicator
from monitor.station import ChairReport, ChairView, StationFeed, StationModel
from monitor.store import Store
from tests.conftest import Clinic, dead_pid, record_simulated
from tests.monitor.replication.shipping import publish_before_schema_8

EARLIER = 6  # the schema the earlier version was made for


def _until(what: str, holds: Callable[[], bool], timeout: float = 25.0) -> None:
    deadline = time.monotonic() + timeout
    while not holds():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def _recording(db: Path, seed: int, start: float) -> str:
    """A session in ``db`` still being recorded (mid-infusion), its heartbeat now; returns its id."""
    session_id = record_simulated(db, seed=seed, start_time=start)
    with Store(db) as store:
        store.assign_patient(session_id, store.create_patient(f"MRN-9{seed:02d}"))
        with store.transaction():
            store.db.execute("UPDATE sessions SET status = 'recording', ended_at = NULL, phase = 'infusion', "
                             "owner_pid = ?, heartbeat_at = ? WHERE id = ?", [dead_pid(), time.time(), session_id])
    return session_id


def _beat(db: Path, session_id: str) -> None:
    """The recording's heartbeat, as the chair writes it every few seconds."""
    with Store(db) as store, store.transaction():
        store.db.execute("UPDATE sessions SET heartbeat_at = ? WHERE id = ?", [time.time(), session_id])


def _ended(db: Path, session_id: str) -> None:
    """The nurse ends the session at the chair."""
    with Store(db) as store, store.transaction():
        store.db.execute("UPDATE sessions SET status = 'closed', ended_at = ? WHERE id = ?",
                         [time.time(), session_id])


def _live(session_id: str) -> dict[str, Any]:
    now = time.time()
    return {"active": True, "session_id": session_id, "now": now, "phase": "infusion",
            "values": {"hr": 72.0, "spo2": 97.0}, "value_times": {"hr": now, "spo2": now}, "alarms": []}


def _server_session(admin_url: str, session_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(admin_url) as conn:
        return conn.execute("SELECT status, heartbeat_at FROM sessions WHERE id = %s", [session_id]).fetchone()


def _last_values(db: Path, session_id: str) -> dict[str, float]:
    with Store(db) as store:
        rows = store.db.execute(
            "SELECT parameter, value FROM readings r WHERE session_id = ? AND parameter IN ('hr', 'pr', 'spo2') "
            "AND t = (SELECT MAX(t) FROM readings n WHERE n.session_id = r.session_id AND n.parameter = r.parameter)",
            [session_id]).fetchall()
    return {str(parameter): float(value) for parameter, value in rows}


@dataclass
class _Upgrade:
    """A server of the earlier schema, Chair 9 of the earlier version recording on it, migrated under it live."""

    server: Clinic
    db: Path
    chair: Replicator
    session_id: str
    reader: str
    #: What ``server migrate`` printed.
    said: str


@pytest.fixture
def upgrade(clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Upgrade]:
    from monitor import server as local_server

    old = Clinic(clinic.server, f"{clinic.database}_v{EARLIER}", clinic.folder)
    with monkeypatch.context() as earlier:
        earlier.setattr(schema, "SCHEMA_VERSION", EARLIER)
        local_server.create_database(clinic.server, old.database)
    # Chair 9 runs the earlier version throughout: it takes a server of its schema, and writes its row itself.
    monkeypatch.setattr(replicator_module, "CHAIR_SCHEMA", EARLIER)
    monkeypatch.setattr(server_writes, "publish_chair", publish_before_schema_8)
    monkeypatch.setattr(Replicator, "_check_identity", lambda _self: None)  # a question of schema 7
    db = tmp_path / "chair9.db"
    session_id = _recording(db, 1, 1_790_000_000.0)
    chair = Replicator(db, old.role("chair", "chair_9"), chair_name="Chair 9", heartbeat_s=0.5)
    chair.publish(_live(session_id))
    chair.start()
    try:
        reader = old.role("reader", "station_2")
        with psycopg.connect(reader) as conn:
            _until("Chair 9's tile on the server", lambda: conn.execute(
                "SELECT count(*) FROM chairs WHERE live->>'session_id' = %s", [session_id]).fetchone() == (1,))
        out = io.StringIO()
        assert main(["server", "migrate", "--url", old.admin_url], out=out) == 0
        yield _Upgrade(old, db, chair, session_id, reader, out.getvalue())
    finally:
        chair.stop(timeout=0.5)


@contextmanager
def _station(upgrade: _Upgrade, model: StationModel, **unreported: Any) -> Iterator[StationFeed]:
    """A station on the migrated server (told of sessions recording unreported through ``on_unreported``)."""
    feed = StationFeed(upgrade.reader, model.apply, **unreported)
    feed.start()
    try:
        yield feed
    finally:
        feed.stop()


def test_a_session_an_earlier_chair_ends_after_the_migrate_leaves_the_station(upgrade: _Upgrade) -> None:
    model = StationModel()
    with _station(upgrade, model):
        _until("Chair 9 not reporting", lambda: [v.offline for v in model.views()] == [True])
        assert model.sounding() is Priority.MEDIUM
        _ended(upgrade.db, upgrade.session_id)
        _until("the session closed on the server",
               lambda: (_server_session(upgrade.server.admin_url, upgrade.session_id) or ("",))[0] == "closed")
        # Its tile, which the chair cannot take off, leaves within seconds: no alarm is left that nobody can silence.
        _until("the tile gone", lambda: model.views() == [], timeout=20.0)
        assert model.station_alarms() == [] and model.sounding() is None
    # The migrate named the chair connected at that moment and said what its being on the earlier version means.
    assert upgrade.said.startswith(f"schema version {schema.SCHEMA_VERSION}\nchair logins connected now: chair_9 (")
    assert "a chair of an earlier version (made for schema 6) can no longer put its live status on the nurse " \
        "station" in upgrade.said
    assert "'recording, but its live status does not reach this station'" in upgrade.said


def test_an_earlier_chair_recording_after_the_migrate_is_shown_with_what_the_server_has(upgrade: _Upgrade) -> None:
    model = StationModel()
    with _station(upgrade, model, on_unreported=model.apply_unreported):
        # Recording through the migrate: its heartbeats go on arriving while its status stopped. Its tile says so,
        # with the values the server has.
        def recorded_on() -> bool:
            _beat(upgrade.db, upgrade.session_id)
            return [v.unreported for v in model.views()] == [True]

        _until("Chair 9 said to be recording unseen", recorded_on)
        [view] = model.views()
        assert (view.name, view.patient, view.tile.session_id) == ("Chair 9", "MRN-901", upgrade.session_id)
        [alarm] = model.station_alarms()
        assert (alarm.condition, alarm.priority) == ("chair_unreported", Priority.MEDIUM)
        assert alarm.message.startswith("Chair 9: recording, but its live status does not reach this station - the "
                                        "chair's program is older than the server: update it")
        # The session ends at the chair, and the next patient's starts there on the earlier version.
        _ended(upgrade.db, upgrade.session_id)
        second = _recording(upgrade.db, 2, 1_790_100_000.0)
        _until("the next session on the server", lambda: _server_session(upgrade.server.admin_url, second) is not None)
        _until("the next session shown", lambda: [(v.tile.session_id, v.unreported) for v in model.views()]
               == [(second, True)])
        [view] = model.views()
        assert (view.name, view.patient, view.tile.phase) == ("Chair 9", "MRN-902", "infusion")
        _until("the session's readings on the server", lambda: upgrade.chair.status().pending_rows == 0)
        last = _last_values(upgrade.db, second)

        def shown() -> dict[str, float | None]:
            values = model.views()[0].tile.values
            return {name: values[name] for name in ("hr", "pr", "spo2") if values.get(name) is not None}

        _until("its last values shown", lambda: shown() == last and bool(last))
        [view] = model.views()
        assert not view.current and model.sounding() is Priority.MEDIUM
        assert [a.condition for a in model.station_alarms()] == ["chair_unreported"]


def _session(session_id: str, heartbeat_age_s: float = 1.0) -> Any:
    from monitor.replication.server_store import UnreportedSession

    return UnreportedSession("chair_3", "o3", session_id, "Chair 3", "MRN-3", "Ann Lee", "infusion", 1000.0, 1600.0,
                             heartbeat_age_s, {"hr": 71.0, "spo2": 96.0}, {"hr": 1590.0, "spo2": 1580.0})


def test_a_session_arriving_just_before_its_chairs_status_is_not_called_unreported() -> None:
    """A chair of this version sends its status just after the batch that brought its session: the station gives it
    the time it gives a silent chair before saying anything."""
    clock = [0.0]
    model = StationModel(clock=lambda: clock[0])
    model.apply_unreported([_session("s1")])
    assert model.views() == []
    clock[0] = 2.0
    model.apply_unreported([_session("s1")])
    from monitor.replication.live import parse_tile

    tile = parse_tile({"active": True, "session_id": "s1", "now": 1602.0, "phase": "infusion", "alarms": []})
    model.apply(ChairReport("chair_3", "Chair 3", tile, "MRN-3", "Ann Lee", "o3"))
    clock[0] = 7.0
    assert [(v.key, v.current) for v in model.views()] == [("chair_3/o3", True)]
    # Another session of that login, never reported, becomes a tile of its own once the time is up.
    model.apply_unreported([_session("s2", heartbeat_age_s=2.0)])
    clock[0] = 13.0
    views: list[ChairView] = model.views()
    unreported = [v for v in views if v.unreported]
    assert [(v.key, v.silent_s, v.value_age_s("hr")) for v in unreported] == [("chair_3/o3/s2", 8.0, 18.0)]
