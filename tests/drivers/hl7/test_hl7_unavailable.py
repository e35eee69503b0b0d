"""SpO2 reported "unavailable" over HL7 (OBX-11 = X, no value), through the HL7 listener as a monitor
would send it: a TCP connection on loopback, MLLP framing written here, the listener's ACK read back,
and the recorder with the alarm engine behind the listener.

The message carries a desaturation (SpO2 85 % for 16 s, OBX-14 one second apart) and then 25 s of
SpO2 "unavailable" while the heart rate keeps coming. The SpO2 alarm must stay active (a missing
value never ends it, and it says the value is not available) and a technical "no SpO2 value" alarm
must give the device's reason.
"""

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
from monitor.session import Session
from monitor.store import Store

START_BLOCK, END_BLOCK, CARRIAGE_RETURN = b"\x0b", b"\x1c", b"\r"


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y%m%d%H%M%S+0000")


def _message(t0: float) -> bytes:
    """One ORU^R01 with a value per second: HR always, SpO2 85 % then unavailable."""
    segments = [
        f"MSH|^~\\&|MONITOR|BED4|IM|CLINIC|{_stamp(t0 + 40)}||ORU^R01^ORU_R01|U1|P|2.6",
        "PID|||P-4711^^^H^MR",
        f"OBR|1|||VITALS|||{_stamp(t0 + 40)}",
    ]
    n = 0
    for second in range(41):
        t = _stamp(t0 + second)
        n += 1
        segments.append(f"OBX|{n}|NM|8867-4^Heart rate^LN||71|/min|||||R|||{t}")
        n += 1
        if second < 16:
            segments.append(f"OBX|{n}|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||85|%|||||R|||{t}")
        else:
            segments.append(f"OBX|{n}|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|||%|||||X|||{t}")
    return START_BLOCK + "\r".join(segments).encode("ascii") + CARRIAGE_RETURN + END_BLOCK + CARRIAGE_RETURN


def test_unavailable_spo2_over_hl7_is_no_data_and_keeps_the_alarm(db_path: Path) -> None:
    source = registry.get("hl7-mllp")().open(OpenOptions(port="127.0.0.1:0"))
    host, port = source.address  # type: ignore[attr-defined]
    store = Store(db_path)
    engine = AlarmEngine()
    # The message carries 41 s of history, so the session began (as a resumed one would have) before it:
    # readings stamped before a session's start belong to no session and are skipped.
    t0 = time.time() - 45
    started = t0 - 5
    session_id = store.create_session(started_at=started, patient_id=None, driver="hl7-mllp",
                                      port=f"{host}:{port}", plan=SessionPlan().text(), nurse="RN")
    recorder = Recorder(store, source, Session(session_id, started, SessionPlan()), nurse="RN", alarms=engine)
    recorder.start()
    try:
        with socket.create_connection((host, port), timeout=5) as monitor:
            monitor.sendall(_message(t0))
            reply = b""
            while not reply.endswith(END_BLOCK + CARRIAGE_RETURN):
                chunk = monitor.recv(65536)
                assert chunk, "the listener closed without an acknowledgment"
                reply += chunk
        assert b"MSA|AA|U1" in reply
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            shown = {(a.condition, a.parameter): a for a in engine.snapshot(time.time()).active}
            if ("no_data", "spo2") in shown and ("spo2_low_severe", "spo2") in shown:
                break
            time.sleep(0.05)
    finally:
        recorder.stop()
        store.close()
    assert recorder.error is None
    severe = shown[("spo2_low_severe", "spo2")]
    assert severe.priority.label == "high"
    assert not severe.latched, "unavailable values never end the alarm"
    assert not severe.value_available
    assert "now no value: unavailable" in severe.shown
    no_value = shown[("no_data", "spo2")]
    assert no_value.kind.value == "technical"
    assert "(unavailable)" in no_value.shown
    assert ("no_data", "heart_rate") not in shown, "the heart rate kept coming"
