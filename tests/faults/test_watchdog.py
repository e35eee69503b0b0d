"""A recorder thread that hangs for 5 s inside a real ``record``: the watchdog, outside it, raises the alarm.

The alarm (high priority, technical, with the terminal bell) comes once the recorder has been silent 3 s,
repeats while the stall lasts, and clears when the recorder runs again; the recording then goes on.
"""

from __future__ import annotations

from pathlib import Path

from tests.faults.helpers import run_child, rung_alarms


def test_a_stalled_recorder_raises_a_high_priority_technical_alarm(db_path: Path) -> None:
    child = run_child(Path(__file__).with_name("watchdog_child.py"), str(db_path))
    lines = child.stdout.splitlines()
    alarms = rung_alarms(lines, "MONITORING STALLED")
    cleared = [i for i, line in enumerate(lines) if "monitoring running again" in line]
    assert cleared and cleared[0] > alarms[-1]
    assert any("closed:" in line for line in lines[cleared[0]:])  # the session went on and closed normally
