"""The clinic's server at scale: 20 chair processes replicating to one PostgreSQL, and a year of sessions.

* **chair -> station**: 20 separate ``infusion-monitor record`` processes (simulated patients at
  real-time rate, 1 Hz numerics, 75 Hz pleth stored locally) replicate to a local PostgreSQL; a
  station feed in this process listens. Latency of a reading = when its chair's status reached the
  station - the reading's own time (the simulator stamps readings with this machine's clock).
* **catch-up**: a chair database holding 30 minutes not yet sent (readings, pleth, events) ships it.
* **station frame**: the station window with 20 active tiles, alarms flashing: one refresh + paint.
* **server cost**: PostgreSQL's CPU seconds and database growth during the 20-chair run, per chair-hour.
* **a clinic's year**: 12,000 sessions (2,000 patients x 6) in the server, readings at one per minute
  per parameter (3.2 million rows; the queries timed use per-session index probes, so the row count
  matters little); the session browser's full list and one patient's course are timed.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Result, dispose, median, percentile

CHAIRS = 20
RUN_S = 60.0
#: Seconds after the last chair first reports before latencies count.
STEADY_AFTER_S = 5.0
ROOT = Path(__file__).resolve().parents[1]


def _server(folder: Path) -> Any:
    from monitor import server as local_server

    return local_server.start(folder)


def _postgres_cpu_s(server: Any) -> float:
    import psutil

    try:
        master = psutil.Process(server.pid)
        processes = [master, *master.children(recursive=True)]
    except psutil.Error:
        return 0.0
    # Backends that already ended count through the postmaster's children_* times.
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            continue
    return total


def _db_size(server: Any) -> int:
    import psycopg

    with psycopg.connect(server.admin_url(), autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0


def _twenty_chairs(server: Any, folder: Path) -> list[Result]:
    from monitor import server as local_server
    from monitor.station import ChairReport, StationFeed

    reader = local_server.add_role(server, "bench_station", kind="reader")
    reports: queue.Queue[tuple[float, ChairReport]] = queue.Queue()
    feed = StationFeed(f"{server.url('bench_station')}?passfile={reader}",
                       lambda r: reports.put((time.time(), r)))
    feed.start()
    cpu_before, size_before = _postgres_cpu_s(server), _db_size(server)
    chairs = []
    for index in range(CHAIRS):
        role = f"bench_chair_{index:02d}"
        passfile = local_server.add_role(server, role, kind="chair")
        chairs.append(subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "record", "--db", str(folder / f"{role}.db"), "--speed", "1",
             "--pleth", "--plan", "baseline:1,infusion:60,recovery:10", "--nurse", "RN", "--quiet",
             "--seed", str(index + 1), "--duration", str(RUN_S),
             "--server", f"{server.url(role)}?passfile={passfile}", "--chair", f"Chair {index + 1}"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
    started = time.monotonic()
    latencies: list[float] = []
    newest: dict[tuple[str, str], float] = {}
    seen_chairs: set[str] = set()
    steady_from: float | None = None
    while any(c.poll() is None for c in chairs):
        try:
            received, report = reports.get(timeout=0.5)
        except queue.Empty:
            continue
        if report.tile is None or not report.tile.active:
            continue
        seen_chairs.add(report.chair)
        if steady_from is None and len(seen_chairs) == CHAIRS:
            # The steady state being measured starts once every chair reports, and a little later: the start-up
            # of 20 processes on 2 cores (imports, the first session) is not it.
            steady_from = time.monotonic() + STEADY_AFTER_S
        for name, t in report.tile.value_times.items():
            key = (report.chair, name)
            if t > newest.get(key, 0.0):
                newest[key] = t
                if steady_from is not None and time.monotonic() >= steady_from:
                    latencies.append(received - t)
    elapsed = time.monotonic() - started
    feed.stop()
    cpu_s = _postgres_cpu_s(server) - cpu_before
    grown = _db_size(server) - size_before
    chair_hours = CHAIRS * elapsed / 3600.0
    ok = [c.returncode == 0 for c in chairs]
    note = f"{len(seen_chairs)}/{CHAIRS} chairs seen, {sum(ok)} exited cleanly, {len(latencies)} readings timed"
    if not latencies:
        return [Result("chair reading -> station tile p99", None, "ms", "<= 1000 ms", None, note)]
    p99 = percentile(latencies, 0.99) * 1000
    return [
        Result("chair reading -> station tile p50", median(latencies) * 1000, "ms", "aim 250 ms",
               None, note, latencies),
        Result("chair reading -> station tile p99", p99, "ms", "<= 1000 ms", p99 <= 1000, note),
        Result("server CPU per chair-hour", cpu_s / chair_hours, "s", "reported", None,
               f"{cpu_s:.1f} s CPU over {chair_hours:.2f} chair-hours"),
        Result("server disk per chair-hour", grown / chair_hours / 2**20, "MiB", "reported", None,
               "database growth incl. pleth blocks and indexes"),
    ]


def _offline_half_hour(db: Path, seed: int) -> int:
    """Write 30 minutes as a real-time chair does while the server is away; returns the outbox size.

    Shaped like a live recording: each second one transaction with that second's numerics (HR, PR,
    SpO2), one 75-sample pleth block, and every 5 s the session's heartbeat; a cuff value every 5
    minutes; a note now and then.
    """
    import random

    from drivers.core.readings import Parameter, Reading
    from monitor.plan import SessionPlan
    from monitor.session import EventKind, Phase, SessionEvent
    from monitor.store import Store, outbox

    rng = random.Random(seed)
    start = 1_790_000_000.0
    with Store(db) as store:
        outbox.install(store.db.conn)
        session_id = store.create_session(started_at=start, patient_id=store.create_patient(f"MRN-{seed}"),
                                          driver="simulated", port=None, plan=SessionPlan().text())
        for second in range(30 * 60):
            t = start + second
            readings = [Reading(t, Parameter.HR, 70.0 + rng.random() * 5, "sim"),
                        Reading(t, Parameter.PR, 70.0 + rng.random() * 5, "sim"),
                        Reading(t, Parameter.SPO2, 96.0 + rng.random() * 3, "sim")]
            readings += [Reading(t + i / 75.0, Parameter.PLETH, rng.random(), "sim") for i in range(75)]
            if second % 300 == 0:
                readings += [Reading(t, Parameter.NIBP_SYS, 125.0, "sim"), Reading(t, Parameter.NIBP_DIA, 80.0, "sim"),
                             Reading(t, Parameter.NIBP_MEAN, 95.0, "sim")]
            events = [SessionEvent(t, EventKind.NOTE, Phase.INFUSION, "RN", {"text": "comfortable"})] \
                if second % 600 == 0 else []
            store.write_batch(session_id, readings=readings, events=events,
                              session_update={"heartbeat_at": t} if second % 5 == 0 else None)
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM replication_outbox").fetchone()[0])


def _catch_up(server: Any, folder: Path, repeat: int) -> list[Result]:
    from monitor import server as local_server
    from monitor.replication.replicator import Replicator

    samples = []
    rows = 0
    for attempt in range(repeat):
        db = folder / f"offline-{attempt}.db"
        rows = _offline_half_hour(db, attempt + 1)
        role = f"bench_offline_{attempt}"
        passfile = local_server.add_role(server, role, kind="chair")
        replicator = Replicator(db, f"{server.url(role)}?passfile={passfile}")
        start = time.perf_counter()
        replicator.start()
        while replicator.status().pending_rows:
            time.sleep(0.02)
        samples.append(time.perf_counter() - start)
        replicator.stop()
    value = median(samples)
    return [Result("30 min offline -> caught up", value, "s", "<= 10 s", value <= 10.0,
                   f"{rows} outbox rows: real-time shape, 1 pleth block/s, numerics, heartbeats", samples)]


def _station_frame(repeat: int) -> list[Result]:
    from PySide6.QtWidgets import QApplication

    from monitor.replication.live import parse_tile
    from monitor.station import ChairReport, StationModel
    from ui.station_window import StationWindow

    app = QApplication.instance() or QApplication([])
    model = StationModel()
    for index in range(CHAIRS):
        alarms = [{"id": f"a{index}", "condition": "spo2_low", "priority": 1 + index % 3, "kind": "physiological",
                   "message": "SpO2 88 < 90", "started_at": 990.0, "acknowledged": False, "latched": False}]
        document = {"active": True, "session_id": f"s{index}", "now": 1000.0, "phase": "infusion",
                    "infusion_elapsed_s": 600 + index, "infusion_plan_min": 40,
                    "values": {"hr": 70.0 + index, "spo2": 96.0, "nibp_sys": 120.0, "nibp_dia": 80.0,
                               "nibp_mean": 93.0}, "nibp_age_s": 60.0, "alarms": alarms}
        model.apply(ChairReport(f"c{index:02d}", f"Chair {index + 1}", parse_tile(document), f"MRN{index}", None))
    window = StationWindow(model)
    window.connected = True
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    samples = []
    for _ in range(max(20, repeat * 10)):
        start = time.perf_counter()
        window.refresh()
        window.grab()  # forces the paint of every tile
        samples.append(time.perf_counter() - start)
        time.sleep(0.13)  # a new flash state each time
    dispose(window)
    value = median(samples) * 1000
    return [Result("station frame, 20 tiles", value, "ms", "<= 16 ms", value <= 16.0,
                   f"p99 {percentile(samples, 0.99) * 1000:.1f} ms (refresh + full paint)", samples)]


def _clinic_year(server: Any, repeat: int) -> list[Result]:
    import psycopg

    from monitor import server as local_server
    from monitor.replication.server_store import ServerStore

    passfile = local_server.add_role(server, "bench_reviewer", kind="reader")
    # Eight chairs, each writing under its own chair database's origin ('year-N' for chair_N), as real chairs do:
    # the server refuses rows under an origin another chair's login holds.
    with psycopg.connect(server.admin_url(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO patients (id, origin, chair, mrn, created_at) "
            "SELECT 'p' || g, 'year-' || (g % 8), 'chair_' || (g % 8), 'MRN' || g, 1.7e9 "
            "FROM generate_series(1, 2000) g"
        )
        conn.execute(
            "INSERT INTO sessions (id, origin, chair, patient_id, started_at, ended_at, status, phase, "
            "phases_reached, driver, nurse, heartbeat_at) "
            "SELECT 's' || g, 'year-' || (g % 8), 'chair_' || (g % 8), 'p' || (1 + g % 2000), 1.7e9 + g * 2600.0, "
            "1.7e9 + g * 2600.0 + 5400, 'complete', 'complete', "
            "'[\"setup\",\"baseline\",\"infusion\",\"recovery\",\"complete\"]', 'simulated', 'RN', 1.7e9 "
            "FROM generate_series(1, 12000) g"
        )
        conn.execute(
            "INSERT INTO readings (origin, local_id, chair, session_id, t, parameter, value, unit, status, source) "
            "SELECT 'year-' || (g % 8), g * 300 + m * 3 + k, 'chair_' || (g % 8), 's' || g, "
            "1.7e9 + g * 2600.0 + m * 60, "
            "(ARRAY['hr','spo2','pr'])[k + 1], 70, '/min', '', 'sim' "
            "FROM generate_series(1, 12000) g, generate_series(0, 89) m, generate_series(0, 2) k"
        )
        conn.execute("ANALYZE")
    browser, course = [], []
    with ServerStore(f"{server.url('bench_reviewer')}?passfile={passfile}") as store:
        for attempt in range(max(3, repeat)):
            start = time.perf_counter()
            listed = store.sessions()
            browser.append(time.perf_counter() - start)
            start = time.perf_counter()
            found = store.course(f"MRN{1 + attempt}")
            course.append(time.perf_counter() - start)
    b, c = median(browser) * 1000, median(course) * 1000
    return [
        Result("year: session browser (all)", b, "ms", "<= 300 ms", b <= 300.0,
               f"{len(listed)} sessions, 3.24 M readings", browser),
        Result("year: a patient's course", c, "ms", "<= 300 ms", c <= 300.0, f"{len(found)} sessions", course),
    ]


def run(repeat: int) -> list[Result]:
    """All the clinic figures (one 20-chair run; the others repeated)."""
    from monitor import server as local_server

    folder = Path(tempfile.mkdtemp(prefix="infusion-monitor-bench-"))
    # The server's account (as root) must pass through this scratch folder to its own; it may not list it.
    folder.chmod(0o711)
    work = folder / "chairs"
    work.mkdir()
    server = _server(folder / "pg")
    try:
        results = _twenty_chairs(server, work)
        results += _catch_up(server, work, min(repeat, 3))
        results += _clinic_year(server, repeat)
    finally:
        local_server.remove(folder / "pg")
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    results += _station_frame(repeat)
    return results


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from benchmarks.run import table

    print(table(run(1)))
