"""Sessions written through the store with the commit cadence of a real-time recording.

A recording in real time hands the store one second of data per commit (the writer commits every 0.25 s;
the monitor sends numerics once a second and the pleth in one-second frames), and every commit appends
its links to the hash chain. A recording replayed at full speed commits 5,000 rows at a time instead, so
its chain is ~40x shorter than the one a clinic's year really holds. This script writes sessions through
:meth:`monitor.store.Store.write_batch` one second at a time (the simulated patient's readings, the cuff
every 5 minutes), so the chain has the links a year of real sessions gives it. Only the durability
pragma of this builder's own connection is relaxed (``synchronous = OFF``): rows and links are as ever.

    .venv/bin/python -m benchmarks.clinic_year_cadence DB --sessions N [--pleth-every K]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.clinic_year import SPACING_S, YEAR_START

SESSION_S = 90 * 60
CUFF_EVERY_S = 300


def write_session(path: Path, index: int, mrn: str, pleth: bool) -> tuple[str, float, int]:
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
        began = time.perf_counter()
        commits = 0
        for second in range(1, SESSION_S + 1):
            if second % CUFF_EVERY_S == 1:
                source.request_nibp()
            batch = source._produce_until(start + second)
            if batch:
                store.write_batch(session_id, batch)
                commits += 1
        store.end_session(session_id, "complete", start + SESSION_S)
        return session_id, time.perf_counter() - began, commits
    finally:
        store.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--pleth-every", type=int, default=5)
    parser.add_argument("--patients", type=int, default=250)
    args = parser.parse_args(argv)
    from monitor.store import Store

    with Store(args.db) as store:
        first = store.db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    for index in range(first, first + args.sessions):
        mrn = f"MRN-{(index // 6) % args.patients:04d}"
        pleth = index % args.pleth_every == 0
        session_id, wall, commits = write_session(args.db, index, mrn, pleth)
        with Store(args.db, readonly=True, check=False) as store:
            links = store.db.execute("SELECT MAX(seq) FROM chain").fetchone()[0]
        size = args.db.stat().st_size / 2**20
        print(f"{index} {session_id[:8]} {mrn} pleth={int(pleth)} {wall:.1f}s commits={commits} links={links} "
              f"db={size:.0f}MiB", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
