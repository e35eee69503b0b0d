"""Readings whose device time stamps are behind, or arrive out of time order, through the real HL7 listener."""

from __future__ import annotations

import time

from tests.signals.harness import Monitor, Recording, alarms_of, iso


def test_late_backlog_of_old_normal_values_does_not_end_a_current_desaturation() -> None:
    """SpO2 97 for 10 s; the monitor goes quiet; it comes back sending the live value (85 %) each second and,
    once the desaturation alarm is up, the readings it held from the gap (97 %, stamped before the
    desaturation). In time order the patient has been below 90 % without a break since the live values
    resumed: the high alarm must stay present, and no alarm may end before it started."""
    rec = Recording("late_backlog", 90)
    try:
        mon = Monitor(rec.port)
        t0 = time.time() + 1.0
        time.sleep(1.0)
        for i in range(10):
            mon.send({"spo2": 97, "pr": 72}, t0 + i)
            time.sleep(1.0)
        time.sleep(20.0)  # the gap
        live_from = time.time()
        mon.send_every_second({"spo2": 85, "pr": 72}, 22)
        # the held readings of the gap, stamped t0+10 .. t0+29 (before the live ones)
        for i in range(10, 29):
            mon.send({"spo2": 97, "pr": 72}, t0 + i)
        mon.send_every_second({"spo2": 85, "pr": 72}, 8)
        end = time.time()
        mon.close()
    finally:
        rec.stop()
    doc = rec.export()
    severe = alarms_of(doc, "spo2_low_severe")
    assert severe, "no SpO2 < 90 alarm for 30 s at 85 %"
    for a in severe:
        assert a["ended_at"] is None or iso(a["ended_at"]) >= iso(a["started_at"]), (
            f"alarm log: SpO2 < 90 alarm ended at {a['ended_at']} before it started at {a['started_at']}"
        )
    first = min(severe, key=lambda a: a["started_at"])
    assert iso(first["started_at"]) <= live_from + 17
    assert first["ended_at"] is None or iso(first["ended_at"]) >= end - 1, (
        f"SpO2 < 90 alarm started {first['started_at']} ended {first['ended_at']} while every live value was 85 %"
    )
