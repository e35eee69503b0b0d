"""An HL7 monitor that falls silent for 25 s (its sending process stopped, a gateway holding its queue), then
sends what it measured meanwhile in a burst, each value with its own OBX-14 time, through the real listener,
recorder and alarm engine; and a gateway that held them for 15 minutes (its network was down)."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import drivers.core.clock as clock_module
from drivers import registry
from drivers.base import OpenOptions
from drivers.core.clock import AnchoredClock, since_boot
from drivers.core.readings import Parameter
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store

SB, EB, CR = b"\x0b", b"\x1c", b"\r"
SESSION_BEFORE_S = 1800.0  # the queued burst comes 30 minutes into the session


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y%m%d%H%M%S+0000")


def _message(n: int, t: float, spo2: float) -> bytes:
    segments = [
        f"MSH|^~\\&|MONITOR|BED4|IM|CLINIC|{_stamp(t)}||ORU^R01^ORU_R01|M{n}|P|2.6",
        "PID|||P-4711^^^H^MR",
        f"OBR|1|||VITALS|||{_stamp(t)}",
        f"OBX|1|NM|8867-4^Heart rate^LN||71|/min|||||R|||{_stamp(t)}",
        f"OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||{spo2:g}|%|||||R|||{_stamp(t)}",
    ]
    return SB + "\r".join(segments).encode() + CR + EB + CR


def test_a_backlog_after_a_silence_leaves_an_alarm_log_whose_alarms_end_after_they_start(db_path: Path) -> None:
    source = registry.get("hl7-mllp")().open(OpenOptions(port="127.0.0.1:0"))
    host, port = source.address  # type: ignore[attr-defined]
    store = Store(db_path)
    engine = AlarmEngine()
    recorder = Recorder.new_session(store, source, driver="hl7-mllp", port=f"{host}:{port}", plan=SessionPlan(),
                                    nurse="RN", alarms=engine)
    recorder.start()
    n = 0
    try:
        with socket.create_connection((host, port), timeout=5) as monitor:
            monitor.settimeout(5)

            def send(t: float, spo2: float) -> None:
                nonlocal n
                n += 1
                monitor.sendall(_message(n, t, spo2))

            for _ in range(3):
                send(time.time(), 97)
                time.sleep(1)
            gap_start = time.time()
            time.sleep(25)
            for i in range(25):  # what it measured during the silence: 20 s at 84 %, then 97 %
                send(gap_start + i, 84 if i < 20 else 97)
            for _ in range(4):
                time.sleep(1)
                send(time.time(), 97)
            time.sleep(1)
    finally:
        recorder.stop()
        store.close()
    with Store(db_path, readonly=True) as check:
        alarms = check.alarms(recorder.session.id)
        readings = [r for r in check.readings(recorder.session.id) if r.parameter.value == "spo2"]
    assert len([r for r in readings if r.value == 84]) == 20
    # The desaturation in the backlog is judged at its own times.
    assert any(a.condition == "spo2_low_severe" for a in alarms)
    backwards = [(a.condition, a.parameter, round(a.started_at - gap_start, 1), round(a.ended_at - gap_start, 1))
                 for a in alarms if a.ended_at is not None and a.ended_at < a.started_at]
    assert not backwards, f"alarms that end before they start (seconds after the silence began): {backwards}"


@pytest.fixture
def half_hour_ago(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The process clock, started 30 minutes back; setting the list's item to the same number moves it to now
    (as 30 minutes of a live session would: wall and monotonic time together, no clock step)."""
    passed = [0.0]
    clock = AnchoredClock(wall=lambda: time.time() - SESSION_BEFORE_S + passed[0],
                          monotonic=lambda: since_boot() + passed[0])
    monkeypatch.setattr(clock_module, "_process_clock", clock)
    return passed


def _burst(db_path: Path, passed: list[float]) -> tuple[float, float | None, float, list, list]:
    """Play the burst; the SpO2 shown as the latest (value, age), the time it was sent, alarms and stored SpO2."""
    source = registry.get("hl7-mllp")().open(OpenOptions(port="127.0.0.1:0"))
    host, port = source.address  # type: ignore[attr-defined]
    store = Store(db_path)
    recorder = Recorder.new_session(store, source, driver="hl7-mllp", port=f"{host}:{port}", plan=SessionPlan(),
                                    nurse="RN", alarms=AlarmEngine())
    passed[0] = SESSION_BEFORE_S  # the session has now run for 30 minutes
    recorder.start()
    try:
        now = time.time()
        with socket.create_connection((host, port), timeout=5) as monitor:
            monitor.settimeout(5)
            # The gateway's queue, oldest first: 97 % from 15 to 11 min ago, then 84 % for the last 3 minutes.
            for n, ago in enumerate([*range(900, 660, -30), *range(180, 0, -5)], start=1):
                monitor.sendall(_message(n, now - ago, 97 if ago > 600 else 84))
                monitor.recv(4096)
            time.sleep(2)
            shown = recorder.session.latest[Parameter.SPO2]
            shown_age = recorder.session.now - shown.t
    finally:
        recorder.stop()
        store.close()
    with Store(db_path, readonly=True) as check:
        alarms = check.alarms(recorder.session.id)
        stored = [r for r in check.readings(recorder.session.id) if r.parameter is Parameter.SPO2]
    return shown.value or 0.0, shown_age, now, alarms, stored


def test_a_value_measured_eleven_minutes_ago_is_not_shown_as_the_current_spo2(
        db_path: Path, half_hour_ago: list[float]) -> None:
    value, age, now, _alarms, stored = _burst(db_path, half_hour_ago)
    old = sorted({round(now - r.t) for r in stored if r.value == 97})
    # The newest measured SpO2 is 84 % (5 s before the burst); 97 % was measured 11 to 15 minutes before it.
    assert value == 84, f"shown as the latest SpO2: {value:g} %, {age:.0f} s old; 97 % stored as measured {old} s ago"


def test_a_desaturation_in_the_recent_part_of_an_old_backlog_is_judged(
        db_path: Path, half_hour_ago: list[float]) -> None:
    _value, _age, _now, alarms, stored = _burst(db_path, half_hour_ago)
    low = [r for r in stored if r.value == 84]
    assert len(low) == 36  # three minutes at 84 % were stored ...
    # ... and judged, as the same three minutes sent without the older part are (spo2_low_severe).
    assert any(a.parameter == "spo2" and a.condition != "no_data" for a in alarms), \
        f"alarms: {[(a.condition, a.parameter) for a in alarms]}"


def test_a_sender_whose_clock_is_steadily_an_hour_behind_has_its_values_stored_as_they_arrive() -> None:
    from drivers.hl7.listener import Hl7Decoder

    decoder = Hl7Decoder()
    t0 = 1_800_000_000.0
    stored = []
    for n in range(8):  # a message a second, each stamped by a clock an hour behind
        at = t0 + n
        raw = _message(n + 1, at - 3600.0, 97)
        stored += [(at, r.t) for r in decoder.feed(raw, at) if r.parameter is Parameter.SPO2]
    # Before its clock is known, a value an hour old keeps its time; once it is known (5 messages over 4 s),
    # the values are current ones and take their receive time.
    assert [round(t - at) for at, t in stored] == [-3600] * 4 + [0] * 4
