"""An HL7 monitor that falls silent for 25 s (its sending process stopped, a gateway holding its queue), then
sends what it measured meanwhile in a burst, each value with its own OBX-14 time, through the real listener,
recorder and alarm engine."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from drivers import registry
from drivers.base import OpenOptions
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store

SB, EB, CR = b"\x0b", b"\x1c", b"\r"


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
