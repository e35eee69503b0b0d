"""``record`` whose printing fails on every alarm change while the recording and the alarm engine go on."""

from __future__ import annotations

from pathlib import Path

from monitor.store import Store
from tests.faults.helpers import run_child


def test_record_whose_alarm_printing_fails_says_so(db_path: Path) -> None:
    child = run_child(Path(__file__).with_name("record_print_fails_child.py"), str(db_path))
    with Store(db_path, readonly=True) as store:
        [session] = store.sessions()
        high = [a for a in store.alarms(session.id) if a.parameter == "spo2" and a.priority.name == "HIGH"]
    assert high, "the engine judged the desaturation and stored its high alarm"
    lines = child.stdout.splitlines()
    assert not any("ALARM HIGH" in line and "SpO2" in line for line in lines)  # never printed
    told = [line for line in lines if line.startswith("\a")]
    assert told, ("a high SpO2 alarm was raised and stored, but the terminal showed no alarm and rang no bell:\n"
                  + "\n".join(lines[-6:]))
