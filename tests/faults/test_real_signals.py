"""Alarms from a Masimo oximeter's real serial lines, through a real pty, in real time.

The device side writes ASCII 1 lines (the Masimo encoder) once a second onto a virtual null-modem
cable; the host side is the real ``masimo-ascii`` driver, the recorder, the alarm engine and a SQLite
file. Masimo lines carry no usable clock, so readings are stamped when they arrive and the condition
delay runs in wall time: the clinic profile here uses the shortest SpO2 delay allowed (10 s) to keep
the run near half a minute.

1. A flickering desaturation, SpO2 85 % for 4 s and 93 % for 1 s, raises the high SpO2 alarm (a
   delay restarted by each 93 % would never let it start).
2. Then the oximeter sends dashes (``SPO2=---%  BPM=---``) with no exception bit: after 10 s that is
   a technical "no SpO2 value" alarm giving the reason, and the SpO2 alarm stays active (not ended,
   not latched) with "no value" on screen.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from drivers import registry
from drivers.base import OpenOptions
from drivers.core import clock
from drivers.masimo.codec import PORT_SETTINGS, encode_line
from drivers.transport.device_ports import SerialDevicePort
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.profile import default_profile_text, parse_profile
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.drivers.ptys import NullModem
from tests.faults.helpers import integrity

DELAY_S = 10
FLICKER_S = 15  # three 4 s + 1 s cycles
DASHES_S = 13


def _play(port: SerialDevicePort, pattern: list[float | None], marks: dict[str, float], stop: threading.Event) -> None:
    """One line a second on the wall clock; ``marks`` gets when lines that matter were written.

    Under load a line can go out late and the next ones catch up, so each mark is the time of the write
    itself, never a time worked out from the schedule. Marks are on the session's clock (the one readings are
    stamped with): the wall clock of a virtual machine is stepped after it was paused, which session time and
    alarm times never follow.
    """
    start = time.monotonic()
    for i, spo2 in enumerate(pattern):
        if stop.is_set():
            return
        delay = start + i - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        now = clock.now()
        if i == 2:
            marks["flicker"] = now
        if i == 2 + FLICKER_S - 1:
            marks["last_value"] = now
        if i == 2 + FLICKER_S:
            marks["dashes"] = now
        if i == len(pattern) - 1:
            marks["last_line"] = now
        port.write(encode_line(now, spo2, None if spo2 is None else 72.0))


def test_flicker_then_dashes_from_a_masimo_over_a_pty(cable: NullModem, db_path: Path) -> None:
    profile = parse_profile(default_profile_text().replace("delay_s = 15", f"delay_s = {DELAY_S}"), "clinic.toml")
    flicker = [85.0, 85.0, 85.0, 85.0, 93.0] * (FLICKER_S // 5)
    pattern: list[float | None] = [97.0, 97.0, *flicker, *([None] * DASHES_S)]
    store = Store(db_path)
    source = registry.get("masimo-ascii")().open(OpenOptions(port=str(cable.host_link)))
    engine = AlarmEngine(profile)
    recorder = Recorder.new_session(store, source, driver="masimo-ascii", port=str(cable.host_link),
                                    plan=SessionPlan(), nurse="RN", alarms=engine)
    marks: dict[str, float] = {}
    stop = threading.Event()
    device = SerialDevicePort(cable.device_path, PORT_SETTINGS)
    player = threading.Thread(target=_play, args=(device, pattern, marks, stop), name="masimo", daemon=True)
    recorder.start()
    player.start()
    try:
        player.join(len(pattern) + 10)
        time.sleep(0.5)  # the last line through the cable
        snapshot = recorder.submit("acknowledge", "RN", alarm_id="none-such")  # a round trip: all is processed
        with pytest.raises(ValueError, match="no alarm on screen"):
            snapshot.result(timeout=5)
        shown = {a.condition: a for a in engine.snapshot(clock.now()).active}
    finally:
        stop.set()
        device.close()
        recorder.stop()
        store.close()
    assert recorder.error is None
    assert integrity(db_path) == "ok"
    with Store(db_path, readonly=True) as check:
        alarms = check.alarms(recorder.session.id)
    by = {(a.condition, a.parameter): a for a in alarms}

    severe = by[("spo2_low_severe", "spo2")]
    assert severe.priority.label == "high"
    # 10 s beyond the limit within a 20 s window: about 12.5 s into a 4 s / 1 s flicker (line jitter allowed).
    assert DELAY_S - 0.5 <= severe.started_at - marks["flicker"] <= DELAY_S + 4.5
    assert severe.peak_value == 85
    # On screen at the end of the dashes: still active (not ended, not latched); the log row closes only
    # with the session.
    assert not shown["spo2_low_severe"].latched, "dashes never end an SpO2 alarm"
    assert severe.ended_at >= marks["last_line"], "the alarm outlasted every dash line"
    assert not shown["spo2_low_severe"].value_available
    assert "no value: value missing (dashes)" in shown["spo2_low_severe"].shown

    no_value = by[("no_data", "spo2")]
    assert no_value.kind == "technical"
    last_valid = marks["last_value"]
    assert 9.5 <= no_value.started_at - last_valid <= 12.0
    assert "value missing (dashes)" in no_value.message
    print(f"flicker alarm after {severe.started_at - marks['flicker']:.1f} s; "
          f"no-value alarm {no_value.started_at - last_valid:.1f} s after the last value")
