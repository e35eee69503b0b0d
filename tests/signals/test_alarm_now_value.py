"""What the alarm bar says the value is "now" once the device has gone quiet, through the HL7 listener and the
recorder (the recorder's public API: its alarm engine's snapshot, which the alarm bar draws)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import AlarmRecord
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import Session
from tests.signals.harness import hl7_session, hl7_stamp


def _message(t0: float, spo2: list[float]) -> bytes:
    segments = [
        f"MSH|^~\\&|GW^ACME|ICU|IM|CLINIC|{hl7_stamp(t0 + len(spo2))}||ORU^R01^ORU_R01|N1|P|2.6",
        "PID|||MRN-SIG^^^HOSP^MR",
        f"OBR|1|||VITALS|||{hl7_stamp(t0 + len(spo2))}",
    ]
    n = 0
    for second, value in enumerate(spo2):
        t = hl7_stamp(t0 + second)
        n += 1
        segments.append(f"OBX|{n}|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC||72|/min|||||R|||{t}")
        n += 1
        segments.append(f"OBX|{n}|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||{value:g}|%|||||R|||{t}")
    return b"\x0b" + "\r".join(segments).encode("ascii") + b"\r\x1c\r"


def test_latched_alarm_does_not_call_a_value_from_half_a_minute_ago_now(tmp_path: Path) -> None:
    """SpO2 85 % for 20 s (the high alarm starts and latches), then 95 % for 8 s, then nothing more: the
    device has gone quiet. Half a minute later the alarm bar may say what the worst value was, but not that
    the SpO2 is 95 % now (CLINICAL.md: a value that is not current is no data)."""
    engine = AlarmEngine()
    t0 = time.time() - 60
    started = t0 - 2
    source, (host, port), store, sid = hl7_session(tmp_path / "now.db", started)
    recorder = Recorder(store, source, Session(sid, started, SessionPlan()), nurse="RN", alarms=engine)
    recorder.start()
    try:
        with socket.create_connection((host, port), timeout=5) as mon:
            mon.sendall(_message(t0, [85.0] * 20 + [95.0] * 8))
            reply = b""
            while not reply.endswith(b"\x1c\r"):
                chunk = mon.recv(65536)
                assert chunk
                reply += chunk
            assert b"MSA|AA|N1" in reply
            deadline = time.monotonic() + 10
            shown: dict[str, AlarmRecord] = {}
            while time.monotonic() < deadline:
                shown = {a.condition: a for a in engine.snapshot(time.time()).active}
                if "spo2_low_severe" in shown and "no_data" in shown:
                    break
                time.sleep(0.05)
    finally:
        recorder.stop()
        store.close()
    severe = shown["spo2_low_severe"]
    assert "no_data" in shown, "no 'no SpO2 value' alarm after 30 s of silence"
    last_value_age = time.time() - (t0 + 27)
    assert "now 95" not in severe.shown, (
        f"alarm bar: {severe.shown!r}, the last SpO2 having come {last_value_age:.0f} s ago"
    )
