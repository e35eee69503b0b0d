"""A device whose bytes cannot be read (the wrong driver, baud rate or parity), through real ptys.

The Masimo driver is given line noise for 34 s: bytes arrive, not one line reads, the header would say "link
connected" over dashes, and, as the device has never given a value, no "no value" alarm can start. A medium
technical alarm now says so after 30 s, naming what to check; the Masimo's own lines end it.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from drivers import registry
from drivers.base import OpenOptions
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import Priority
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from monitor.unreadable import UNREADABLE_AFTER_S
from tests.drivers.ptys import NullModem
from tests.faults.test_serial_faults import PlayingDevice


def test_bytes_nothing_reads_raise_a_technical_alarm_and_a_readable_device_ends_it(
    cable: NullModem, db_path: Path
) -> None:
    store = Store(db_path)
    source = registry.get("masimo-ascii")().open(OpenOptions(port=str(cable.host_link)))
    recorder = Recorder.new_session(store, source, driver="masimo-ascii", port=None, plan=SessionPlan(),
                                    nurse="RN", alarms=AlarmEngine())
    recorder.start()
    noise = random.Random(7)
    device = PlayingDevice("masimo-ascii", cable)
    try:
        started = time.monotonic()
        while time.monotonic() - started < UNREADABLE_AFTER_S + 4.0:
            cable.inject(bytes(noise.randrange(256) for _ in range(96)))  # about a 9600-baud line's worth
            time.sleep(0.1)
        device.start()  # the right device on the line
        time.sleep(6.0)
    finally:
        for ending in (device.close, recorder.stop, store.close):
            ending()
    assert recorder.error is None
    with Store(db_path, readonly=True) as check:
        alarms = [a for a in check.alarms(recorder.session.id) if a.condition == "device_unreadable"]
    assert len(alarms) == 1, alarms
    [alarm] = alarms
    assert alarm.priority is Priority.MEDIUM
    assert alarm.message.startswith("Data from the monitor cannot be read (") and "no frame read for 30 s" in (
        alarm.message) and alarm.message.endswith("check the driver, baud rate and parity (Settings)")
    assert UNREADABLE_AFTER_S - 1.0 <= alarm.started_at - recorder.session.started_at <= UNREADABLE_AFTER_S + 3.0
    assert alarm.ended_at is not None and alarm.ended_at > alarm.started_at
