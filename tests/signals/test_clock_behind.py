"""Readings whose device time stamps are behind, or arrive out of time order, through the real HL7 listener."""

from __future__ import annotations

import time

from tests.signals.harness import Monitor, Recording, alarms_of, iso


def test_device_clock_behind_does_not_make_no_data_chatter() -> None:
    """A monitor whose clock is 25 s slow sends SpO2 and pulse every second for 60 s. Whatever the monitor
    says about the old-looking values, one steady condition is one alarm: CLINICAL.md's alarm log keeps
    "every alarm with start, end", and an alarm that starts and stops every second (ending before it
    started) is the chatter the clinical rules forbid."""
    rec = Recording("clock_behind", 80)
    try:
        mon = Monitor(rec.port)
        time.sleep(1.0)
        mon.send_every_second({"spo2": 97, "pr": 72}, 60, behind_s=25.0)
        mon.close()
    finally:
        rec.stop()
    doc = rec.export()
    no_data = alarms_of(doc, "no_data")
    backwards = [a for a in no_data if a["ended_at"] is not None and iso(a["ended_at"]) < iso(a["started_at"])]
    assert len(no_data) <= 2 and not backwards, (
        f"{len(no_data)} separate 'no data' alarms in 60 s of readings every second, {len(backwards)} ending "
        "before they started: "
        + "; ".join(f"{a['started_at'][11:19]}-{(a['ended_at'] or '')[11:19]}" for a in no_data[:4])
    )
    # Values keep arriving: the alarm names the device's clock, it does not say there are no readings.
    assert all("check the device's clock" in a["message"] for a in no_data), [a["message"] for a in no_data]
