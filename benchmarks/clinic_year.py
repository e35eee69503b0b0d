"""A clinic chair's year in one local database, written by the product's own code.

Two ways, both appending to the database (run again to grow it):

- **recorded** (default): each session is recorded by the simulated monitor at full speed through
  :class:`monitor.recorder.Recorder` (alarm engine, plan, checklist, dose, PHQ-9/GAD-7, scores), for a pool of
  patients who come about six times, then boosters; one patient has a long course. At full speed the recorder
  commits thousands of rows at a time, so the hash chain is far shorter than a real year's.
- **--real-cadence**: sessions written through :meth:`monitor.store.Store.write_batch` one second of data per
  commit, as a recording in real time hands it over (the simulated patient's readings, a cuff every 5 minutes),
  so the chain holds the links a year of real sessions gives it (~5,400 per 90-minute session, twice that with
  the pleth). Only this builder's own connection relaxes durability (``synchronous = OFF``).

Sessions start four hours apart (about six a day), every ``--pleth-every``-th one with the 75 Hz pleth.

    .venv/bin/python -m benchmarks.clinic_year DB --sessions N [--pleth-every K] [--patients P] [--real-cadence]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.common import record_chair_session

YEAR_START = 1_767_225_600.0  # 2026-01-01
SPACING_S = 4 * 3600.0
LONG_COURSE_MRN = "COURSE-LONG"
SESSION_S = 90 * 60
CUFF_EVERY_S = 300


def record_session(path: Path, index: int, mrn: str, pleth: bool) -> str:
    """One session recorded by the recorder at full speed."""
    scenario = ("normal", "hypertension", "normal", "desaturation")[index % 4]
    return record_chair_session(path, mrn=mrn, name=f"Patient {mrn}", scenario=scenario, seed=index,
                                start_time=YEAR_START + index * SPACING_S, pleth=pleth,
                                note="patient comfortable, music on")


def write_session(path: Path, index: int, mrn: str, pleth: bool) -> str:
    """One session written one second per commit, as a real-time recording commits."""
    from drivers.simulated.driver import SimulatedSource
    from monitor.store import Store

    store = Store(path)
    try:
        store.db.execute("PRAGMA synchronous = OFF")
        start = YEAR_START + index * SPACING_S
        source = SimulatedSource(scenario="normal", seed=index, speed=float("inf"), pleth=pleth, start_time=start)
        source.open()
        patient = store.create_patient(mrn, f"Patient {mrn}", "1970-01-01")
        session_id = store.create_session(started_at=start, patient_id=patient, driver="simulated", port=None,
                                          plan="baseline:5,infusion:55,recovery:30", nurse="RN",
                                          protocol="ketamine-iv")
        for second in range(1, SESSION_S + 1):
            if second % CUFF_EVERY_S == 1:
                source.request_nibp()
            batch = source._produce_until(start + second)
            if batch:
                store.write_batch(session_id, batch)
        store.end_session(session_id, "complete", start + SESSION_S)
        return session_id
    finally:
        store.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--pleth-every", type=int, default=5)
    parser.add_argument("--patients", type=int, default=250)
    parser.add_argument("--long-course-every", type=int, default=25)
    parser.add_argument("--real-cadence", action="store_true",
                        help="write one second per commit through the store (a real year's chain length)")
    args = parser.parse_args(argv)
    from monitor.store import Store

    with Store(args.db) as store:
        first = store.db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    write = write_session if args.real_cadence else record_session
    for index in range(first, first + args.sessions):
        long_course = not args.real_cadence and index % args.long_course_every == 0
        mrn = LONG_COURSE_MRN if long_course else f"MRN-{(index // 6) % args.patients:04d}"
        pleth = index % args.pleth_every == 0
        began = time.perf_counter()
        session_id = write(args.db, index, mrn, pleth)
        wall = time.perf_counter() - began
        with Store(args.db, readonly=True, check=False) as store:
            links = store.db.execute("SELECT MAX(seq) FROM chain").fetchone()[0]
        size = args.db.stat().st_size / 2**20
        print(f"{index} {session_id[:8]} {mrn} pleth={int(pleth)} {wall:.1f}s links={links} db={size:.0f}MiB",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
