"""``infusion-monitor record``'s progress line once the monitor has gone quiet (its HL7 connection still open)."""

from __future__ import annotations

import re
import time

from tests.signals.harness import Monitor, Recording


def test_progress_line_does_not_print_a_value_from_15_s_ago_as_the_current_one() -> None:
    """SpO2 97 and pulse 72 for 4 s, then nothing for 15 s. The line printed every second shows the blood
    pressure with its age; HR and SpO2 printed bare read as this second's values (the window marks them
    stale after 10 s), while the last came 15 s ago."""
    rec = Recording("quiet_progress", 30)
    try:
        mon = Monitor(rec.port)
        time.sleep(1.0)
        mon.send_every_second({"spo2": 97, "pr": 72}, 4)
        time.sleep(15.0)
        lines = [line for line in rec.output().splitlines() if line.startswith("[")]
        mon.close()
    finally:
        rec.stop()
    last = lines[-1]
    assert not re.search(r"HR 72 SpO2 97 NIBP", last), f"15 s after the last value: {last[:70]}"
