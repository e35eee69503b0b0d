"""Resident-memory growth over a full 90-minute session (with pleth and alarms) at 150 times real time.

Each run is a fresh process (``python -m benchmarks.memory --probe DB``) so earlier benchmarks do
not hide or add growth. RSS is sampled every 5 session-minutes and once after the session; growth
is the highest sample minus the one taken after the first session-minute (imports and the database
are open by then).

The pace is the soak's: fast enough for a run of 36 s, slow enough that the store's writer keeps up
as it does in a real session. Replayed as fast as the machine goes, the writer falls minutes behind
and what it holds (392,000 rows at minute 89) would be counted as growth.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Result, median, record_full_session, rss_bytes

GROWTH_TARGET_MB = 50.0
SAMPLE_EVERY_MIN = 5
SPEED = 150.0


def probe(db_path: Path) -> dict[str, Any]:
    """Record one session in this process and return the RSS samples (MB by session minute)."""
    samples: dict[int, float] = {}
    first: list[float] = []

    def sample(update: Any) -> None:
        now = update.status.now
        if not first:
            first.append(now)
        minute = int((now - first[0]) // 60)
        if minute >= 1 and (minute == 1 or minute % SAMPLE_EVERY_MIN == 0) and minute not in samples:
            samples[minute] = rss_bytes() / 2**20

    _, wall, covered = record_full_session(db_path, pleth=True, listener=sample, speed=SPEED)
    samples[int(covered // 60) + 1] = rss_bytes() / 2**20
    return {"samples": samples, "wall_s": wall, "session_s": covered}


def run(repeat: int) -> list[Result]:
    """Growth per run in a fresh process; the median is reported with the samples of the last run."""
    growths = []
    last: dict[str, Any] = {}
    for _ in range(max(1, min(repeat, 3))):
        with tempfile.TemporaryDirectory() as folder:
            out = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--probe", str(Path(folder) / "m.db")],
                                 capture_output=True, text=True, check=True)
        last = json.loads(out.stdout.strip().splitlines()[-1])
        values = [v for _, v in sorted((int(k), v) for k, v in last["samples"].items())]
        growths.append(max(values) - values[0])
    growth = median(growths)
    curve = sorted((int(k), v) for k, v in last["samples"].items())
    shown = ", ".join(f"{m}min {v:.0f}" for m, v in curve[:: max(1, len(curve) // 6)] + curve[-1:])
    return [Result("memory growth over a 90-min session", growth, "MB", f"<= {GROWTH_TARGET_MB:g} MB",
                   growth <= GROWTH_TARGET_MB, f"RSS MB at session minute: {shown}", growths)]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        print(json.dumps(probe(Path(sys.argv[2]))))
    else:
        sys.exit("usage: python -m benchmarks.memory --probe DB")
