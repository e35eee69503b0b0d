"""Readings whose device time stamps are behind, or arrive out of time order, through the real HL7 listener."""

from __future__ import annotations

import time

from tests.signals.harness import Monitor, Recording


def test_a_late_older_value_is_not_shown_as_the_current_one() -> None:
    """The monitor sends SpO2 85 now, then a message it held back, stamped 3 s earlier, with 97 %. The newest
    value the patient has is 85 %: the numbers shown as current (``record``'s progress line; the window's tiles
    read the same status) must stay 85, not go back to 97."""
    rec = Recording("late_value_shown", 30)
    try:
        mon = Monitor(rec.port)
        time.sleep(1.0)
        mon.send_every_second({"spo2": 97, "pr": 72}, 5)
        now = time.time()
        mon.send({"spo2": 85, "pr": 72}, now)
        mon.send({"spo2": 97, "pr": 72}, now - 3.0)
        time.sleep(2.5)
        lines = [line for line in rec.output().splitlines() if line.startswith("[")]
        mon.close()
    finally:
        rec.stop()
    assert "SpO2 85 " in lines[-1], f"shown as current after the late older value: {lines[-1][:60]}"
