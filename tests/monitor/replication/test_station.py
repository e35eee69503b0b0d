"""The nurse station against a real PostgreSQL: pushed tiles, a silent chair, an unacknowledged alarm."""

from __future__ import annotations

import math
import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import Priority
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.replication.chair import LivePublisher, send_written_held
from monitor.replication.live import live_document, not_kept_document, parse_tile
from monitor.replication.replicator import Replicator
from monitor.station import ChairReport, StationFeed, StationModel, initials
from monitor.store import Store, outbox
from tests.conftest import Clinic


def _wait(reports: queue.Queue[ChairReport], predicate: Any, timeout: float = 15.0) -> ChairReport:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            report = reports.get(timeout=0.1)
        except queue.Empty:
            continue
        if predicate(report):
            return report
    raise AssertionError("the station never received the expected report")


def _shut(feed: StationFeed, replicator: Replicator, store: Store, recorder: Recorder | None = None) -> None:
    """End a test's station, chair link (unless stopped already), recording and store."""
    feed.stop()
    if replicator._thread is not None:
        replicator.stop(timeout=0.5)
    if recorder is not None:
        recorder.stop()
    store.close()


def _recorder(store: Store, seed: int, plan: str) -> Recorder:
    source = SimulatedSource(scenario="normal", seed=seed, speed=math.inf, start_time=1_790_000_000.0)
    return Recorder.new_session(store, source, driver="simulated", port=None, plan=parse_plan(plan), autopilot=True,
                                nurse="RN", alarms=AlarmEngine())


@dataclass
class _Watched:
    """A chair recording and publishing to the server, and a station watching it."""

    store: Store
    recorder: Recorder
    replicator: Replicator
    updates: list[Any]
    model: StationModel
    reports: queue.Queue[ChairReport]
    feed: StationFeed

    def until_first_heart_rate(self) -> None:
        while not any(u.status.heart_rate is not None for u in self.updates):
            self.recorder.step(timeout=0.0)

    def shut(self) -> None:
        _shut(self.feed, self.replicator, self.store, self.recorder)


def _watched(clinic: Clinic, db_path: Path, login: str, name: str, seed: int) -> _Watched:
    """A chair ``login`` named ``name`` recording a short plan, published live, and a station on a reader login."""
    chair_url, reader_url = clinic.role("chair", login), clinic.role("reader")
    store = Store(db_path)
    recorder = _recorder(store, seed, "baseline:1,infusion:5,recovery:1")
    replicator = Replicator(db_path, chair_url, chair_name=name, heartbeat_s=0.5)
    updates: list[Any] = []
    recorder.add_listener(LivePublisher(replicator))
    recorder.add_listener(updates.append)
    reports: queue.Queue[ChairReport] = queue.Queue()
    model = StationModel()
    feed = StationFeed(reader_url, lambda r: (model.apply(r), reports.put(r)))
    feed.start()
    replicator.start()
    return _Watched(store, recorder, replicator, updates, model, reports, feed)


def test_tiles_are_pushed_and_a_killed_chair_goes_offline(clinic: Clinic, db_path: Path) -> None:
    chair = _watched(clinic, db_path, "chair_five", "Chair 5", 2)
    model = chair.model
    try:
        chair.until_first_heart_rate()
        sent = live_document(chair.updates[-1])
        chair.replicator.publish(sent)
        report = _wait(chair.reports, lambda r: r.tile is not None and r.tile.now == sent["now"])
        assert report.name == "Chair 5" and report.chair == "chair_five"
        assert report.tile == parse_tile(sent)
        assert report.tile.values["hr"] == sent["values"]["hr"]
        views = model.views()
        assert [v.name for v in views] == ["Chair 5"] and not views[0].offline
        # The chair dies without a word (as after kill -9): the station notices by itself.
        chair.replicator.stop(timeout=0.5, goodbye=False)
        silent_from = time.monotonic()
        while not model.station_alarms():
            assert time.monotonic() - silent_from < 10.0, "no offline alarm within 10 s"
            time.sleep(0.1)
        alarm = model.station_alarms()[0]
        assert alarm.condition == "chair_offline" and alarm.priority is Priority.MEDIUM
        assert time.monotonic() - silent_from >= model.offline_after_s - 1.0
    finally:
        chair.shut()
    assert not chair.feed.connected


def _report(alarms: list[dict[str, Any]], now: float = 1000.0, active: bool = True) -> ChairReport:
    document = {"active": active, "session_id": "s1", "now": now, "phase": "infusion",
                "values": {"hr": 80.0, "spo2": 97.0}, "alarms": alarms}
    return ChairReport("chair_1", "Chair 1", parse_tile(document), "MRN-1", "Jane van Doe")


def test_an_unacknowledged_alarm_is_escalated_after_the_set_time() -> None:
    clock = [0.0]
    model = StationModel(escalate_after_s=60.0, clock=lambda: clock[0])
    spo2 = {"id": "a1", "condition": "spo2_low", "priority": 2, "kind": "physiological", "message": "SpO2 88 < 90",
            "started_at": 990.0, "acknowledged": False, "latched": False}
    model.apply(_report([spo2]))
    assert model.station_alarms() == [] and model.sounding() is Priority.MEDIUM
    clock[0] = 49.0  # 10 s before the report + 49 s since = 59 s: not yet
    model.apply(_report([spo2], now=1049.0))
    assert model.station_alarms() == []
    clock[0] = 51.0
    escalated = model.station_alarms()
    assert [(a.condition, a.priority, a.alarm_id) for a in escalated] == [("escalated", Priority.HIGH, "a1")]
    assert model.sounding() is Priority.HIGH
    # Acknowledged at the chair: the escalation ends, the station does not sound for it.
    model.apply(_report([dict(spo2, acknowledged=True)], now=1051.0))
    assert model.station_alarms() == [] and model.sounding() is None
    # A session that ended cleanly leaves the screen without an alarm.
    model.apply(_report([], active=False))
    assert model.views() == [] and model.station_alarms() == []


def test_the_patient_is_named_as_the_clinic_chooses() -> None:
    assert initials("Jane van Doe") == "J.v.D."
    by_initials = StationModel(show="initials")
    by_initials.apply(_report([]))
    assert by_initials.views()[0].patient == "J.v.D."
    by_mrn = StationModel()
    by_mrn.apply(_report([]))
    assert by_mrn.views()[0].patient == "MRN-1"


def test_a_chair_that_answers_but_stands_still_is_a_stall_and_its_values_age() -> None:
    """The heartbeat goes on while the chair's recorder hangs: its status repeats with the same ``now``."""
    clock = [0.0]
    model = StationModel(clock=lambda: clock[0])
    document = {"active": True, "session_id": "s1", "now": 1000.0, "phase": "infusion",
                "values": {"hr": 81.0, "spo2": 98.0}, "value_times": {"hr": 999.0, "spo2": 996.0}, "alarms": []}
    report = ChairReport("chair_1", "Chair 1", parse_tile(document), None, None)
    model.apply(report)
    [view] = model.views()
    assert view.current and view.value_age_s("hr") == 1.0 and view.value_age_s("spo2") == 4.0
    assert view.value_age_s("nibp_sys") is None
    for beat in (2.0, 4.0, 5.5):  # heartbeats repeating the same status
        clock[0] = beat
        model.apply(report)
    assert model.station_alarms() == []
    clock[0] = 6.0
    model.apply(report)
    [view] = model.views()
    assert view.stalled and not view.offline and not view.current
    assert view.value_age_s("hr") == 7.0
    [alarm] = model.station_alarms()
    assert (alarm.condition, alarm.priority) == ("chair_stalled", Priority.MEDIUM)
    assert "Chair 1: monitoring stalled at the chair" in alarm.message and "for 6 s" in alarm.message
    assert model.sounding() is Priority.MEDIUM
    clock[0] = 7.0  # the recorder runs again
    model.apply(ChairReport("chair_1", "Chair 1", parse_tile(dict(document, now=1007.5)), None, None))
    assert model.station_alarms() == [] and model.views()[0].current
    clock[0] = 14.0  # silent altogether: offline, which says more than stalled
    [alarm] = model.station_alarms()
    assert alarm.condition == "chair_offline"


def test_a_hung_recorder_behind_a_live_replicator_is_a_stall_at_the_station(clinic: Clinic, db_path: Path) -> None:
    chair_url, reader_url = clinic.role("chair", "chair_six"), clinic.role("reader")
    store = Store(db_path)
    recorder = _recorder(store, 2, "baseline:1")
    replicator = Replicator(db_path, chair_url, chair_name="Chair 6", heartbeat_s=0.5)
    recorder.add_listener(LivePublisher(replicator))
    model = StationModel()
    reports: queue.Queue[ChairReport] = queue.Queue()
    feed = StationFeed(reader_url, lambda r: (model.apply(r), reports.put(r)))
    feed.start()
    replicator.start()
    try:
        for _ in range(50):
            recorder.step(timeout=0.0)
        _wait(reports, lambda r: r.tile is not None and r.tile.values.get("hr") is not None)
        # The recorder stops turning (a hang); the replicator's heartbeat goes on with the last status.
        hung_at = time.monotonic()
        while not model.station_alarms():
            assert time.monotonic() - hung_at < 12.0, "no stall alarm at the station within 12 s"
            time.sleep(0.1)
        [alarm] = model.station_alarms()
        assert alarm.condition == "chair_stalled", alarm
        [view] = model.views()
        assert not view.offline and view.silent_s < 2.0, "the chair was still heard from"
        assert time.monotonic() - hung_at >= model.stalled_after_s - 1.5
    finally:
        _shut(feed, replicator, store, recorder)


def test_a_chair_whose_database_cannot_be_read_still_reports_and_says_goodbye(
    clinic: Clinic, db_path: Path, monkeypatch: Any
) -> None:
    """The chair's disk fails: the outbox cannot be read, but the chair monitors on and its link to the server works.
    The station must go on seeing it (its values, its storage alarm), and see its session end."""
    import sqlite3

    chair_url, reader_url = clinic.role("chair", "chair_six"), clinic.role("reader")
    store = Store(db_path)
    replicator = Replicator(db_path, chair_url, chair_name="Chair 6", heartbeat_s=0.5)
    reports: queue.Queue[ChairReport] = queue.Queue()
    model = StationModel()
    feed = StationFeed(reader_url, lambda r: (model.apply(r), reports.put(r)))
    feed.start()
    live = {"active": True, "session_id": "s6", "now": 1000.0, "phase": "infusion", "values": {"hr": 77.0},
            "alarms": [], "storage_ok": True}
    replicator.publish(live)
    replicator.start()
    try:
        _wait(reports, lambda r: r.tile is not None and r.tile.now == 1000.0)

        def unreadable(*_args: Any) -> Any:
            raise sqlite3.OperationalError("disk I/O error")

        # Every read of the chair's file fails from now on, as on a disk that stopped answering.
        for name in ("take", "progress", "state"):
            monkeypatch.setattr(outbox, name, unreadable)
        for now in (1001.0, 1002.0, 1003.0):
            replicator.publish(dict(live, now=now, storage_ok=False))
            report = _wait(reports, lambda r, now=now: r.tile is not None and r.tile.now == now)
            assert report.tile is not None and not report.tile.storage_ok
        # The server drops the chair's connection meanwhile: the chair connects again and reports on, although it
        # cannot compare what it sent with what the server holds (nothing is shipped until it can).
        with psycopg.connect(clinic.admin_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'chair_six'")
        for now in (1004.0, 1005.0):
            replicator.publish(dict(live, now=now, storage_ok=False))
            _wait(reports, lambda r, now=now: r.tile is not None and r.tile.now == now)
        replicator.stop(timeout=1.0)
        _wait(reports, lambda r: r.tile is not None and not r.tile.active)
        assert model.views() == [] and model.station_alarms() == []
    finally:
        _shut(feed, replicator, store)


def test_rows_a_chair_could_not_keep_stay_at_the_station_until_write_held_sends_them(
    clinic: Clinic, db_path: Path
) -> None:
    chair_url, reader_url = clinic.role("chair", "chair_nine"), clinic.role("reader")
    store = Store(db_path)
    recorder = _recorder(store, 4, "baseline:1,infusion:5,recovery:1")
    replicator = Replicator(db_path, chair_url, chair_name="Chair 9", heartbeat_s=0.5)
    recorder.add_listener(LivePublisher(replicator))
    reports: queue.Queue[ChairReport] = queue.Queue()
    model = StationModel()
    feed = StationFeed(reader_url, lambda r: (model.apply(r), reports.put(r)))
    feed.start()
    replicator.start()
    session_id = recorder.session.id
    try:
        for _ in range(200):
            recorder.step(timeout=0.0)
        _wait(reports, lambda r: r.tile is not None and r.tile.active)
        recorder.close()  # the session's end is on the server, as after write-held (else its tile would stay)
        replicator.stop(timeout=5.0, ended_with=not_kept_document(312, "/data/x.recovery-1.jsonl"))
        ended = _wait(reports, lambda r: r.tile is not None and not r.tile.active)
        assert ended.tile is not None and ended.tile.not_kept is not None and ended.tile.not_kept.rows == 312
        assert [a.condition for a in model.station_alarms()] == ["record_not_kept"]
        # A station started now reads it from the server too.
        late = StationModel()
        late_feed = StationFeed(reader_url, late.apply)
        late_feed.start()
        try:
            deadline = time.monotonic() + 15.0
            while not late.station_alarms():
                assert time.monotonic() < deadline, "a station started later never heard of the rows"
                time.sleep(0.1)
        finally:
            late_feed.stop()
        said = send_written_held(chair_url, db_path, session_id)
        assert "they are on the server too; the nurse station no longer reports them missing" in said, said
        _wait(reports, lambda r: r.tile is not None and r.tile.not_kept is None)
        assert model.station_alarms() == [] and model.views() == []
    finally:
        _shut(feed, replicator, store)


def test_a_station_under_a_chairs_login_says_it_cannot_see_the_clinic(clinic: Clinic) -> None:
    """A chair's login sees only its own chair (row-level security): a station started with it once showed that one
    chair as if it were the whole clinic. It now refuses, saying why; a reader's login is taken."""
    chair_url, reader_url = clinic.role("chair", "chair_seven"), clinic.role("reader")
    links: queue.Queue[tuple[bool, str | None]] = queue.Queue()
    reports: list[ChairReport] = []
    for url, login_is_a_reader in ((chair_url, False), (reader_url, True)):
        feed = StationFeed(url, reports.append, on_link=lambda up, why: links.put((up, why)))
        feed.start()
        try:
            up, why = links.get(timeout=15.0)
        finally:
            feed.stop()
        assert up is login_is_a_reader, why
        if not login_is_a_reader:
            assert why == ("the login chair_seven is not a reader's (a chair's login sees only that chair's rows, so "
                           "the other chairs would be missing without a sign); start the station with a reader "
                           "login: infusion-monitor server add-reader")
        while not links.empty():
            links.get()
    assert reports == []


def test_a_chair_row_removed_by_an_admin_leaves_the_station_at_its_reconnection(clinic: Clinic, db_path: Path) -> None:
    """A chair taken out of service whose row an admin removed stayed on the station through every reconnection
    ("not reporting" for ever); the station's next full read of the chairs now takes it off."""
    chair = _watched(clinic, db_path, "chair_gone", "Chair 9", 4)
    try:
        chair.until_first_heart_rate()
        _wait(chair.reports, lambda r: r.tile is not None and r.name == "Chair 9")
        chair.replicator.stop(timeout=0.5, goodbye=False)  # the chair is switched off, its tile left as it was
        assert [v.name for v in chair.model.views()] == ["Chair 9"]
        with psycopg.connect(clinic.admin_url, autocommit=True) as admin:
            admin.execute("DELETE FROM chairs WHERE chair = 'chair_gone'")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'infusion-monitor station'")
        _wait(chair.reports, lambda r: r.tile is None and r.chair == "chair_gone", timeout=20.0)
        assert chair.model.views() == []
    finally:
        chair.shut()


def test_a_completed_session_leaves_the_station_and_is_never_called_stalled(db_path: Path) -> None:
    """The chair's window stays open between patients, its replicator beating with the last status: that status
    said "active" with a clock standing still, so the station called every chair that had discharged its patient
    "MONITORING STALLED" 6 s later. The completion is published at once, and is not live."""

    class Published:
        def __init__(self) -> None:
            self.documents: list[dict[str, Any]] = []

        def publish(self, document: dict[str, Any]) -> None:
            self.documents.append(document)

    published = Published()
    store = Store(db_path)
    try:
        recorder = _recorder(store, 5, "baseline:1,infusion:2,recovery:1")
        recorder.add_listener(LivePublisher(published))  # type: ignore[arg-type]
        recorder.run(until=lambda r: r.session.phase.value == "complete")
    finally:
        store.close()
    last = parse_tile(published.documents[-1])
    assert last.phase == "complete" and not last.active
    clock = [0.0]
    model = StationModel(clock=lambda: clock[0])
    model.apply(ChairReport("chair_1", "Chair 1", parse_tile(published.documents[-2]), "MRN-1", None))
    model.apply(ChairReport("chair_1", "Chair 1", last, "MRN-1", None))
    clock[0] = 60.0  # a minute of heartbeats repeating the last status
    model.apply(ChairReport("chair_1", "Chair 1", last, "MRN-1", None))
    assert model.views() == [] and model.station_alarms() == []
