"""The computer sleeps 20 minutes in the middle of a session (a laptop's lid closed, then opened)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_time_asleep_counts_as_time_for_the_session() -> None:
    done = subprocess.run([sys.executable, "-m", "tests.timekeeping.suspend_child"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # The cuff taken before the sleep is 20 minutes old when the lid opens: "NIBP overdue", and no
    # discharge on it. The session's clock is still the wall clock, which nobody changed.
    assert seen["nibp_age_s"] >= 1200 - 2, seen
    assert abs(seen["behind_wall_s"]) < 2, seen
    assert seen["step_s"] is None, seen
