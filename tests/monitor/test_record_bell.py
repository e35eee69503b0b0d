"""`record` has no window and no sound device: its terminal is the only alarm a nurse can hear from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLAN = "baseline:5,infusion:30,recovery:5"


def test_a_high_priority_alarm_in_record_rings_the_terminal_bell(tmp_path: Path) -> None:
    program = Path(sys.executable).parent / "infusion-monitor"
    done = subprocess.run(
        [str(program), "record", "--driver", "simulated", "--scenario", "desaturation", "--speed", "max",
         "--db", str(tmp_path / "bell.db"), "--plan", PLAN, "--quiet"],
        capture_output=True, timeout=300, check=True,
    )
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    started = [line for line in lines if "(spo2_low_severe) started" in line]
    assert started, "the desaturation raises SpO2 < 90 %"
    print(started)
    assert all("\a" in line for line in started), (
        f"the high-priority alarm line has no terminal bell: {started[0]!r} "
        "(the watchdog's alarm in the same terminal rings it)")
