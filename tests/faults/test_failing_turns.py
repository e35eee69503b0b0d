"""A real ``record --duration 4`` whose every turn fails from the first second on: the terminal says so with the
bell, and the recording still ends at its duration and closes the session.

Before, a failed turn skipped the duration's check: the command never ended (this test's 120 s limit ran out),
and its only alarm came once no turn had completed for 3 s.
"""

from __future__ import annotations

from pathlib import Path

from tests.faults.helpers import run_child, rung_alarms


def test_record_whose_turns_all_fail_alarms_and_still_ends_at_its_duration(db_path: Path) -> None:
    child = run_child(Path(__file__).with_name("failing_turns_child.py"), str(db_path))
    lines = child.stdout.splitlines()
    first = rung_alarms(lines, "MONITORING FAILING")[0]
    assert "RuntimeError: the alarm engine cannot judge this turn" in lines[first]
    [ended] = [line for line in lines if line.startswith("session ") and " closed: " in line]
    assert "readings stored" in ended
