"""Which chair database is which on the server: one login at two chairs, a chair file restored from a backup or
rebuilt by recover, a server restored from a dump, and clocks that differ between chair and reader."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from monitor import server as local_server
from monitor.alarms.engine import AlarmEngine
from monitor.replication import server_store
from monitor.replication.replicator import Replicator
from monitor.station import StationModel, report_from_row
from monitor.store import Store, outbox
from tests.conftest import Clinic, record_simulated
from tests.monitor.replication.shipping import assert_same, drain, replicate

ROOT = Path(__file__).resolve().parents[3]


def _count(admin_url: str, session_id: str) -> int:
    with psycopg.connect(admin_url) as server:
        row = server.execute("SELECT count(*) FROM readings WHERE session_id = %s", [session_id]).fetchone()
    assert row is not None
    return int(row[0])


def _one_session_shipped(clinic: Clinic, tmp_path: Path) -> tuple[str, Path, str]:
    """A chair's login, its database with one session, and the origin that session reached the server as."""
    url = clinic.role("chair")
    db = tmp_path / "monitor.db"
    record_simulated(db, seed=1)
    return url, db, replicate(db, url).origin


def _live(session_id: str, hr: float, alarms: list[dict[str, Any]]) -> dict[str, Any]:
    return {"active": True, "session_id": session_id, "now": time.time(), "phase": "infusion",
            "values": {"hr": hr, "spo2": 97.0}, "alarms": alarms}


def test_two_chairs_given_one_login_are_two_tiles_and_both_chairs_are_told(clinic: Clinic, tmp_path: Path) -> None:
    """A chair's settings copied to a second chair: both report under one login. Each chair database keeps its
    own row, so the station never shows one chair's values in the other's tile; both chairs and the station
    name the shared login."""
    url, reader = clinic.role("chair", "chair_dup"), clinic.role("reader")
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    first, second = record_simulated(a, seed=1), record_simulated(b, seed=2)
    told: dict[str, list[str | None]] = {"Chair 1": [], "Chair 4": []}
    ra = Replicator(a, url, chair_name="Chair 1", heartbeat_s=0.2)
    rb = Replicator(b, url, chair_name="Chair 4", heartbeat_s=0.2)
    ra.on_warning = told["Chair 1"].append
    rb.on_warning = told["Chair 4"].append
    high = {"id": "h1", "condition": "nibp_sys_high", "priority": 3, "kind": "physiological",
            "message": "NIBP sys 187 > 180", "started_at": time.time(), "acknowledged": False, "latched": True}
    ra.start()
    rb.start()
    seen: dict[str, set[tuple[str | None, float | None]]] = {}
    try:
        drain(ra)
        drain(rb)
        deadline = time.monotonic() + 4.0
        with psycopg.connect(reader, autocommit=True) as conn:
            while time.monotonic() < deadline:
                ra.publish(_live(first, 71.0, []))
                rb.publish(_live(second, 112.0, [high]))
                model = StationModel()
                for row in server_store.chair_rows(conn, ["chair_dup"]):
                    model.apply(report_from_row(row))
                for view in model.views():
                    seen.setdefault(view.key, set()).add((view.tile.session_id, view.tile.values.get("hr")))
                time.sleep(0.1)
            views = model.views()
            station_alarms = model.station_alarms()
        warnings = [ra.status().warning, rb.status().warning]
    finally:
        ra.stop()
        rb.stop()
    # Two tiles, each always showing its own chair: never the other's patient or values.
    assert sorted(v.name for v in views) == ["Chair 1", "Chair 4"]
    assert sorted(map(sorted, seen.values())) == sorted([[(first, 71.0)], [(second, 112.0)]])
    chair_4 = next(v for v in views if v.name == "Chair 4")
    assert [a.message for a in chair_4.tile.alarms] == ["NIBP sys 187 > 180"]
    assert {v.shared_with for v in views} == {("Chair 4",), ("Chair 1",)}
    assert sorted((a.condition, a.priority.name) for a in station_alarms) == [("login_shared", "MEDIUM")] * 2
    assert "LOGIN chair_dup SHARED with Chair 4" in next(a.message for a in station_alarms if "Chair 1:" in a.message)
    # Each chair is told, naming the other.
    assert warnings[0] is not None and "chair_dup" in warnings[0] and "Chair 4" in warnings[0]
    assert warnings[1] is not None and "Chair 1" in warnings[1]
    assert told["Chair 1"][0] == warnings[0] and told["Chair 4"][0] == warnings[1]


def _reporting_for_a_while(db: Path, url: str, name: str) -> tuple[Replicator, str | None]:
    """A chair database reporting as ``name`` for half a second (heartbeats every 0.2 s), then stopped; the
    replicator and the warning it had."""
    replicator = Replicator(db, url, chair_name=name, heartbeat_s=0.2)
    replicator.start()
    try:
        drain(replicator)
        time.sleep(0.5)
        return replicator, replicator.status().warning
    finally:
        replicator.stop()


def test_a_login_of_its_own_warns_of_nothing(clinic: Clinic, tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    record_simulated(db, seed=1)
    assert _reporting_for_a_while(db, clinic.role("chair"), "Chair 1")[1] is None


def test_the_shared_login_is_a_technical_alarm_at_the_chair_until_it_ends(tmp_path: Path) -> None:
    """The replicator's warning reaches the recorder, which raises a medium technical alarm (seen at the chair
    and, with its live status, at the station) and puts it on the timeline."""
    import math

    from drivers.simulated.driver import SimulatedSource
    from monitor.plan import parse_plan
    from monitor.recorder import Recorder
    from monitor.session import EventKind

    store = Store(tmp_path / "m.db")
    source = SimulatedSource(scenario="normal", seed=2, speed=math.inf, start_time=1_790_000_000.0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None,
                                    plan=parse_plan("baseline:1,infusion:5,recovery:1"), autopilot=True, nurse="RN",
                                    alarms=AlarmEngine())
    try:
        recorder.step(timeout=0.0)
        recorder.warn_server_link("LOGIN SHARED: the login chair_dup is also used by Chair 4 on host-b")
        recorder.step(timeout=0.0)
        assert recorder.alarms is not None
        [alarm] = [a for a in recorder.alarms.snapshot(recorder.session.now).active
                   if a.condition == "server_login_shared"]
        assert alarm.priority.name == "MEDIUM" and "Chair 4" in alarm.message
        recorder.warn_server_link(None)
        # What the server link had to repair goes on the timeline through the recorder.
        renewed = recorder.submit("technical_event", None, condition="database_origin_renewed", detail="origin 1234")
        recorder.step(timeout=0.0)
        renewed.result(timeout=0)
        assert not [a for a in recorder.alarms.snapshot(recorder.session.now).active
                    if a.condition == "server_login_shared"]
    finally:
        recorder.stop()
        recorder.close()
    try:
        conditions = [e.detail.get("condition") for e in store.events(recorder.session.id)
                      if e.kind is EventKind.TECHNICAL]
        assert conditions.count("server_login_shared") == 1 and conditions.count("server_login_own") == 1
        assert conditions.count("database_origin_renewed") == 1
    finally:
        store.close()


def test_a_chair_database_restored_from_its_backup_keeps_the_server_copy_whole(clinic: Clinic, tmp_path: Path) -> None:
    """A chair file put back from a backup reuses its origin and local row numbers. The server holds more of
    that origin than the file ever wrote, so the file takes a new origin (and says so): the session recorded
    after the backup stays whole on the server, and what the file records now arrives beside it."""
    url, db, origin = _one_session_shipped(clinic, tmp_path)
    backup = tmp_path / "backup.db"
    with sqlite3.connect(db) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    second = record_simulated(db, seed=2, start_time=1_790_100_000.0)
    replicate(db, url)
    before = _count(clinic.admin_url, second)
    with psycopg.connect(clinic.admin_url, autocommit=True) as server:  # as if the chair had died recording
        server.execute("""UPDATE chairs SET live = '{"active": true}'""")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, db)
    third = record_simulated(db, seed=3, start_time=1_790_200_000.0)
    replicator = replicate(db, url)
    assert _count(clinic.admin_url, second) == before > 0
    assert replicator.origin != origin
    with sqlite3.connect(db) as local:
        assert outbox.origins(local) == [replicator.origin, origin]
    assert_same(db, clinic.admin_url)  # every session of the file, under the origin ids it sent as
    assert _count(clinic.admin_url, third) > 0
    notice = replicator.status().notice
    assert notice is not None and "restored from a backup" in notice and replicator.origin[:8] in notice
    assert "everything stored here is on the server" in replicator.status().text and notice in replicator.status().text
    # Its row at the station under the earlier id has ended: no second tile for one chair.
    with psycopg.connect(clinic.admin_url) as server:
        ended = server.execute("SELECT live->>'active' FROM chairs WHERE origin = %s", [origin]).fetchone()
    assert ended == ("false",)


def test_a_copy_of_a_chair_file_sending_beside_it_does_not_overwrite_it(clinic: Clinic, tmp_path: Path) -> None:
    """Two files with one origin (a copied file) sending in turn: the second finds the server's progress is not
    its own, before it writes anything, and takes a new origin."""
    url = clinic.role("chair")
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    record_simulated(a, seed=1)
    first = replicate(a, url)
    with sqlite3.connect(a) as src, sqlite3.connect(b) as dst:
        src.backup(dst)
    second_a = record_simulated(a, seed=2, start_time=1_790_100_000.0)
    second_b = record_simulated(b, seed=3, start_time=1_790_100_000.0)
    ra, rb = Replicator(a, url), Replicator(b, url)
    ra._ready()
    rb._ready()  # both connected, both in step, before either sends
    try:
        while ra.ship_once():
            pass
        while rb.ship_once():
            pass
    finally:
        for replicator in (ra, rb):
            replicator._disconnect(None)
            replicator.stop(timeout=0.1)
    assert ra.origin == first.origin and rb.origin != first.origin
    assert_same(a, clinic.admin_url)
    assert_same(b, clinic.admin_url)
    assert _count(clinic.admin_url, second_a) > 0 and _count(clinic.admin_url, second_b) > 0


def test_a_database_rebuilt_by_recover_does_not_duplicate_the_servers_readings(clinic: Clinic, tmp_path: Path) -> None:
    """`recover` hands the damaged file's server identity on: its rows keep their local ids and origin, so
    what it sends again is recognised and the server holds each reading once."""
    url = clinic.role("chair")
    db = tmp_path / "monitor.db"
    session = record_simulated(db, seed=1)
    origin = replicate(db, url).origin
    new = tmp_path / "new.db"
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "recover", str(db), str(new)], check=True, cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert f"as the damaged file did (origin {origin[:8]})" in done.stdout
    replicator = replicate(new, url)
    assert replicator.origin == origin
    with sqlite3.connect(new) as local:
        mine = local.execute("SELECT count(*) FROM readings WHERE session_id = ?", [session]).fetchone()[0]
    assert _count(clinic.admin_url, session) == mine > 0
    assert_same(new, clinic.admin_url, origin)
    # The rebuilt file records on under the same origin, its numbers after the damaged file's.
    later = record_simulated(new, seed=2, start_time=1_790_100_000.0)
    replicate(new, url)
    assert _count(clinic.admin_url, session) == mine
    assert_same(new, clinic.admin_url, origin)
    assert _count(clinic.admin_url, later) > 0


def test_a_server_restored_from_its_dump_gets_back_what_the_chairs_sent_since(clinic: Clinic, tmp_path: Path) -> None:
    """The server's progress for a chair is behind what it once confirmed: the chair sends everything again."""
    url, db, origin = _one_session_shipped(clinic, tmp_path)
    with psycopg.connect(clinic.admin_url, autocommit=True) as server:
        saved = server.execute("SELECT last_seq, batch FROM replication_progress WHERE origin = %s",
                               [origin]).fetchone()
    assert saved is not None
    second = record_simulated(db, seed=2, start_time=1_790_100_000.0)
    replicate(db, url)
    # What a restore of the earlier dump leaves: the second session's rows gone, the progress as it was then.
    with psycopg.connect(clinic.admin_url, autocommit=True) as server:
        for table in ("readings", "waveforms", "events", "alarms", "audit"):
            server.execute(f"DELETE FROM {table} WHERE session_id = %s", [second])
        server.execute("DELETE FROM sessions WHERE id = %s", [second])
        server.execute("UPDATE replication_progress SET last_seq = %s, batch = %s WHERE origin = %s",
                       [saved[0], saved[1], origin])
    replicator = replicate(db, url)
    assert replicator.origin == origin
    assert_same(db, clinic.admin_url, origin)
    notice = replicator.status().notice
    assert notice is not None and "sending again everything" in notice


def _dump(clinic: Clinic, target: Path) -> None:
    """The clinic database as an administrator's ``pg_dump`` keeps it (custom format), with the server's binaries."""
    binaries = clinic.server.binaries or local_server.pgserver_binaries()
    subprocess.run([str(binaries / "pg_dump"), "-Fc", "-f", str(target), "-d", clinic.admin_url], check=True,
                   capture_output=True, timeout=60)


def _restore(clinic: Clinic, dump: Path) -> None:
    """Put the clinic database back from ``dump`` as an administrator does: dropped, then ``pg_restore --create``."""
    binaries = clinic.server.binaries or local_server.pgserver_binaries()
    with psycopg.connect(clinic.server.admin_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{clinic.database}" WITH (FORCE)')
    subprocess.run([str(binaries / "pg_restore"), "--create", "-d", clinic.server.admin_url("postgres"), str(dump)],
                   check=True, capture_output=True, timeout=60)


def _server_counts(admin_url: str, session_id: str) -> dict[str, int]:
    """How many rows of each table keyed by a local number the server holds for ``session_id``."""
    with psycopg.connect(admin_url) as server:
        return {table: int(server.execute(f"SELECT count(*) FROM {table} WHERE session_id = %s",
                                          [session_id]).fetchone()[0])
                for table in ("readings", "waveforms", "events", "audit")}


def _local_counts(db: Path, session_id: str) -> dict[str, int]:
    with sqlite3.connect(db) as local:
        return {table: int(local.execute(f"SELECT count(*) FROM {table} WHERE session_id = ?",
                                         [session_id]).fetchone()[0])
                for table in ("readings", "waveforms", "events", "audit")}


def test_a_server_restored_after_a_chair_restore_holds_each_of_the_chairs_rows_once(
    clinic: Clinic, tmp_path: Path
) -> None:
    """The chair file is put back from its backup (it takes a new origin), then the server from an earlier dump:
    the chair sends everything again, and a row that first reached the server under the earlier origin goes
    under that origin again, where the server keeps it, not as a second row under the new one."""
    url, db, origin = _one_session_shipped(clinic, tmp_path)
    with sqlite3.connect(db) as local:
        [first] = [row[0] for row in local.execute("SELECT id FROM sessions")]
    dump = tmp_path / "clinic.dump"
    _dump(clinic, dump)
    backup = tmp_path / "backup.db"
    with sqlite3.connect(db) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    record_simulated(db, seed=2, start_time=1_790_100_000.0)
    replicate(db, url)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, db)
    third = record_simulated(db, seed=3, start_time=1_790_200_000.0)
    renewed = replicate(db, url)
    assert renewed.origin != origin
    assert _server_counts(clinic.admin_url, first) == _local_counts(db, first)
    _restore(clinic, dump)
    replicator = replicate(db, url)
    notice = replicator.status().notice
    assert notice is not None and "sending again everything" in notice
    assert replicator.origin == renewed.origin
    for session_id in (first, third):
        assert _server_counts(clinic.admin_url, session_id) == _local_counts(db, session_id)
    assert_same(db, clinic.admin_url)  # every session as the chair holds it, under the origin ids it sent as
    with psycopg.connect(clinic.admin_url) as server:
        under = dict(server.execute("SELECT origin, count(*) FROM readings GROUP BY origin").fetchall())
    with sqlite3.connect(db) as local:
        mine = {s: int(local.execute("SELECT count(*) FROM readings WHERE session_id = ?", [s]).fetchone()[0])
                for s in (first, third)}
    assert under == {origin: mine[first], renewed.origin: mine[third]}


def test_a_live_session_read_from_the_server_is_not_unfinished_because_of_a_clock_difference(
    clinic: Clinic, tmp_path: Path
) -> None:
    """A chair whose clock is 45 s behind the reader's: its recording session is still recording when read from
    the server (the server times the heartbeat's arrival on its own clock); one whose heartbeat stopped arriving
    long ago is unfinished."""
    url, reader = clinic.role("chair"), clinic.role("reader")
    db = tmp_path / "monitor.db"
    session = record_simulated(db, seed=1)
    with sqlite3.connect(db) as local:
        local.execute("UPDATE sessions SET status = 'recording', ended_at = NULL, heartbeat_at = ? WHERE id = ?",
                      [time.time() - 45.0, session])
    replicate(db, url)
    with server_store.ServerStore(reader) as store:
        [summary] = store.sessions()
        assert summary.status == "recording"
        assert store.status_of(store.session_row(session)) == "recording"
    with psycopg.connect(clinic.admin_url, autocommit=True) as server:
        server.execute("ALTER TABLE sessions DISABLE TRIGGER sessions_heartbeat_seen")
        server.execute("UPDATE sessions SET heartbeat_seen_at = now() - interval '60 seconds'")
    with server_store.ServerStore(reader) as store:
        assert [s.status for s in store.sessions()] == ["unfinished"]


def test_the_comparison_of_progress_tells_each_case_apart() -> None:
    """The chair's record of its copy against the server's progress, case by case."""
    from monitor.replication.progress import Judgement, Verdict, judge
    from monitor.store.outbox import LocalProgress, Mark

    confirmed, sending = Mark(100, "b1"), Mark(150, "b2")
    local = LocalProgress(confirmed, sending, highest_seq=160)
    in_step = Judgement(Verdict.IN_STEP)
    assert judge(local, Mark(100, "b1")) == in_step
    # The batch being sent reached the server just before the link broke: forget it here.
    assert judge(local, Mark(150, "b2")) == Judgement(Verdict.IN_STEP, 150)
    # The server went back (restored from a dump), or holds nothing of this file any more.
    assert judge(local, Mark(40, "b0")) == Judgement(Verdict.SERVER_BEHIND)
    assert judge(local, None) == Judgement(Verdict.SERVER_BEHIND)
    # A history this file never wrote: further on, or as far but by another batch.
    assert judge(local, Mark(150, "other")) == Judgement(Verdict.CHAIR_BEHIND)
    assert judge(local, Mark(100, "other")) == Judgement(Verdict.CHAIR_BEHIND)
    assert judge(LocalProgress(None, None, 0), None) == in_step
    # A chair file or a server from before batch ids: the numbers alone.
    legacy_file = LocalProgress(None, None, highest_seq=160)
    assert judge(legacy_file, Mark(120, "b1")) == Judgement(Verdict.IN_STEP, 120)
    assert judge(legacy_file, Mark(170, "b1")) == Judgement(Verdict.CHAIR_BEHIND)
    assert judge(local, Mark(120, None)) == Judgement(Verdict.IN_STEP, 120)
    assert judge(local, Mark(90, None)) == Judgement(Verdict.SERVER_BEHIND)
    # Once the chair took such a server's point as confirmed, it is in step with it.
    assert judge(LocalProgress(Mark(120, None), Mark(150, "b3"), 160), Mark(120, None)) == in_step


def test_progress_kept_before_batch_ids_is_taken_up_without_resending(clinic: Clinic, tmp_path: Path) -> None:
    """A server's progress row from before schema 5 has no batch id: the chair goes on from its number."""
    url, db, origin = _one_session_shipped(clinic, tmp_path)
    with psycopg.connect(clinic.admin_url, autocommit=True) as server:
        server.execute("UPDATE replication_progress SET batch = NULL")
    later = record_simulated(db, seed=2, start_time=1_790_100_000.0)
    replicator = replicate(db, url)
    assert replicator.origin == origin and replicator.status().notice is None
    assert_same(db, clinic.admin_url, origin)
    assert _count(clinic.admin_url, later) > 0


def test_a_chairs_former_database_leaves_the_station_when_it_reports_from_a_new_one(
    clinic: Clinic, tmp_path: Path
) -> None:
    """The same chair (name and computer) with a new database file: its former row, silent for a while, is no
    second chair under its login."""
    url = clinic.role("chair", "chair_new_file")
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    record_simulated(old, seed=1)
    record_simulated(new, seed=2)
    first = Replicator(old, url, chair_name="Chair 2")
    first.publish(_live("s-old", 70.0, []))
    first.start()
    drain(first)
    first.stop(goodbye=False)  # the computer died: its row still says active
    with psycopg.connect(clinic.admin_url, autocommit=True) as server:
        server.execute("UPDATE chairs SET seen_at = now() - interval '40 seconds'")
    second, warning = _reporting_for_a_while(new, url, "Chair 2")
    assert warning is None
    with psycopg.connect(clinic.admin_url, autocommit=True) as server:
        rows = server.execute("SELECT origin, live->>'active' FROM chairs ORDER BY seen_at").fetchall()
    assert rows == [(first.origin, "false"), (second.origin, "false")]


def test_recover_says_when_it_cannot_hand_the_server_identity_on(tmp_path: Path) -> None:
    """A file that never sent to a server has no identity to hand on; one whose record of it cannot be read
    is rebuilt all the same, and the report says the server will hold its rows under both origins."""
    from monitor.recover import recover

    alone = tmp_path / "alone.db"
    record_simulated(alone, seed=1)
    report = recover(alone, tmp_path / "alone-new.db")
    assert report.identity is None and not report.identity_lost
    with sqlite3.connect(tmp_path / "alone-new.db") as rebuilt:
        assert not outbox.installed(rebuilt)
    sent = tmp_path / "sent.db"
    record_simulated(sent, seed=1)
    with sqlite3.connect(sent, isolation_level=None) as conn:
        outbox.install(conn)
        conn.execute("INSERT OR REPLACE INTO replication_state (key, value) VALUES ('confirmed', 'torn')")
    report = recover(sent, tmp_path / "sent-new.db")
    assert report.identity is None and report.identity_lost and report.copied > 0
    assert any("under both origins" in line for line in report.lines())


def test_a_database_written_back_mid_recording_goes_on_under_the_same_origin(clinic: Clinic, tmp_path: Path) -> None:
    """The writer writes its file back (deleted, moved, truncated, log lost) while the replicator still sends
    from the old one; batches the server confirms in between are carried over when the replicator follows the
    new file, which therefore is not taken for another file's history (a new origin, everything sent twice)."""
    url = clinic.role("chair")
    old, written_back = tmp_path / "chair.db", tmp_path / "written-back.db"
    record_simulated(old, seed=1)
    replicator = Replicator(old, url, batch_rows=200)
    origin = replicator.origin
    replicator._ready()
    try:
        assert replicator.ship_once() == 200  # one batch confirmed before the copy
        with sqlite3.connect(old) as src, sqlite3.connect(written_back) as dst:
            src.backup(dst)
        while replicator.ship_once():  # the rest confirmed through the old file only
            pass
        later = record_simulated(written_back, seed=2, start_time=1_790_100_000.0)
        replicator.follow(written_back)
        replicator._open_followed()
        while replicator.ship_once():
            pass
    finally:
        replicator._disconnect(None)
        replicator.stop(timeout=0.1)
    assert replicator.origin == origin and replicator.status().notice is None
    with sqlite3.connect(written_back) as local:
        assert outbox.state(local).pending == 0
    assert_same(written_back, clinic.admin_url, origin)
    assert _count(clinic.admin_url, later) > 0


def test_a_new_origin_keeps_where_the_earlier_one_ended_and_recover_carries_it(tmp_path: Path) -> None:
    """Taking a new origin notes, per table, the last row the server had under the earlier one; a row changed since
    (waiting again) still belongs to it, a row recorded after the last batch does not; recover hands it on."""
    db = tmp_path / "m.db"
    record_simulated(db, seed=1)
    local = outbox.connect(db)
    try:
        old = outbox.install(local)
        local.execute("DELETE FROM replication_outbox")  # as if all of it reached the server
        highest = int(local.execute("SELECT MAX(id) FROM readings").fetchone()[0])
        local.execute("UPDATE readings SET value = value WHERE id = 1")  # changed outside the program: waits again
        local.execute("INSERT INTO readings (session_id, t, parameter, value, unit, status, source) "
                      "SELECT session_id, t + 1, parameter, value, unit, status, source FROM readings WHERE id = 1")
        new = outbox.take_new_origin(local)
        [earlier] = outbox.earlier_origins(local)
        assert earlier.origin == old and earlier.highest["readings"] == highest
        assert outbox.origin_of([earlier], new, "readings", 1) == old
        assert outbox.origin_of([earlier], new, "readings", highest + 1) == new
        fresh = outbox.connect(tmp_path / "fresh.db")
        try:
            fresh.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY)")
            for table in ("patients", "sessions", "waveforms", "events", "alarms", "audit"):
                fresh.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
            outbox.carry_identity(fresh, outbox.origins(local), outbox.progress(local), [earlier])
            assert outbox.earlier_origins(fresh) == [earlier]
        finally:
            fresh.close()
    finally:
        local.close()
