"""A clinic chair's year in one local database, written by the recorder itself.

Each session is recorded by the simulated monitor at full speed through :class:`monitor.recorder.Recorder`
(alarm engine, plan, checklist, dose, PHQ-9/GAD-7, scores), for a pool of patients that come about six
times, then boosters; one patient has a long course. Sessions start four hours apart (about six a day),
every ``--pleth-every``-th one with the 75 Hz pleth. Sessions are appended, so the script can be run again
to grow the same database.

    .venv/bin/python -m benchmarks.clinic_year DB --sessions N [--pleth-every K] [--patients P]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from benchmarks.common import FULL_SESSION_PLAN, alarm_engine

YEAR_START = 1_767_225_600.0  # 2026-01-01
SPACING_S = 4 * 3600.0
LONG_COURSE_MRN = "COURSE-LONG"


def record_session(path: Path, index: int, mrn: str, pleth: bool) -> tuple[str, float]:
    from drivers.simulated.driver import SimulatedSource
    from monitor.plan import parse_plan
    from monitor.protocols import load_protocol
    from monitor.recorder import Recorder
    from monitor.session import Phase
    from monitor.store import Store

    store = Store(path)
    try:
        protocol = load_protocol("ketamine-iv")
        plan = parse_plan(FULL_SESSION_PLAN)
        scenario = ("normal", "hypertension", "normal", "desaturation")[index % 4]
        source = SimulatedSource(scenario=scenario, seed=index, speed=math.inf, pleth=pleth,
                                 start_time=YEAR_START + index * SPACING_S, plan=plan.phase_times())
        patient = store.create_patient(mrn, f"Patient {mrn}", "1970-01-01")
        started = time.perf_counter()
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=plan, patient_id=patient,
                                        nurse="RN", autopilot=True, alarms=alarm_engine(), protocol=protocol)
        done: set[str] = set()

        def until(r: Recorder) -> bool:
            s = r.session
            if s.phase is Phase.BASELINE and "entries" not in done:
                done.add("entries")
                r.submit("checklist", "RN", quick="f6 e t:partner c m:lisinopril w80")
                r.submit("plan_dose", "RN", weight_kg=80, dose_mg_per_kg=0.5)
                r.submit("outcome_score", "RN", scale="PHQ-9", answers="122112101")
                r.submit("outcome_score", "RN", scale="GAD-7", answers="1211010")
            if s.phase is Phase.INFUSION and s.infusion_elapsed() > 600 and "moaas" not in done:
                done.add("moaas")
                r.submit("score", "RN", scale="MOAA/S", value=4)
                r.submit("note", "RN", text="patient comfortable, music on")
            if s.phase is Phase.RECOVERY and "cadss" not in done:
                done.add("cadss")
                r.submit("score", "RN", scale="CADSS-6", value=5)
            return False

        recorder.run(until=until)
        return recorder.session.id, time.perf_counter() - started
    finally:
        store.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--pleth-every", type=int, default=5)
    parser.add_argument("--patients", type=int, default=250)
    parser.add_argument("--long-course-every", type=int, default=25)
    args = parser.parse_args(argv)
    from monitor.store import Store

    with Store(args.db) as store:
        first = store.db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    for index in range(first, first + args.sessions):
        long_course = index % args.long_course_every == 0
        mrn = LONG_COURSE_MRN if long_course else f"MRN-{(index // 6) % args.patients:04d}"
        pleth = index % args.pleth_every == 0
        session_id, wall = record_session(args.db, index, mrn, pleth)
        size = args.db.stat().st_size / 2**20
        print(f"{index} {session_id[:8]} {mrn} pleth={int(pleth)} {wall:.1f}s db={size:.0f}MiB", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
