"""Export times for a 90-minute session recorded with pleth (run: .venv/bin/python bench/export_times.py).

Records baseline 5 + infusion 50 + recovery 35 minutes with the simulated monitor at full speed
and the 75 Hz pleth into a temporary database, then times `infusion-monitor export` in this
process for each format (median of three runs, wall clock, including loading the session).
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from monitor.cli import main

PLAN = "baseline:5,infusion:50,recovery:35"
CASES = [
    ("csv", []),
    ("json", []),
    ("hl7", []),
    ("fhir", []),
    ("fhir", ["--resample", "all"]),
    ("pdf", []),
    ("pdf", ["--deidentify"]),
]


def run() -> None:
    """Record, export, print a table."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["INFUSION_MONITOR_CONFIG"] = str(Path(folder) / "none.toml")
        db = str(Path(folder) / "bench.db")
        started = time.perf_counter()
        assert main(["record", "--db", db, "--speed", "max", "--pleth", "--plan", PLAN, "--patient", "MRN-1",
                     "--nurse", "RN", "--quiet"], io.StringIO()) == 0
        print(f"recorded {PLAN} with pleth in {time.perf_counter() - started:.1f} s; "
              f"database {Path(db).stat().st_size / 1e6:.1f} MB")
        for fmt, extra in CASES:
            out = Path(folder) / f"out.{fmt}"
            times = []
            for _ in range(3):
                started = time.perf_counter()
                assert main(["export", "latest", "--db", db, "--format", fmt, "--out", str(out), *extra]) == 0
                times.append(time.perf_counter() - started)
            label = " ".join([fmt, *extra])
            print(f"{label:28} {statistics.median(times):6.2f} s  {out.stat().st_size / 1e6:6.2f} MB")


if __name__ == "__main__":
    sys.exit(run())
