"""A monitor that goes quiet and then resumes with the readings it held, oldest first, through the HL7 listener
and the recorder; judged by oracle.py."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import Session
from tests.signals.harness import exchange, hl7_session, oru
from tests.signals.oracle import Sample, expected_spo2


def test_desaturation_held_during_a_silence_alarms_when_it_arrives(tmp_path: Path) -> None:
    engine = AlarmEngine()
    t0 = time.time() - 80
    started = t0 - 2
    source, (host, port), store, sid = hl7_session(tmp_path / "backlog.db", started)
    recorder = Recorder(store, source, Session(sid, started, SessionPlan()), nurse="RN", alarms=engine)
    sent: list[Sample] = []
    recorder.start()
    try:
        with socket.create_connection((host, port), timeout=5) as mon:
            # the backlog, one message per second of it, oldest first: 97 % then 86 % from t0+30
            for i in range(80):
                t = t0 + i
                v = 97.0 if i < 30 else 86.0
                assert b"MSA|AA" in exchange(mon, oru(f"B{i}", {"spo2": v, "pr": 72}, t))
                sent.append(Sample(t, "spo2", v))
            time.sleep(1.5)
            alarms = {a.condition: a for a in engine.snapshot(time.time()).active}
    finally:
        recorder.stop()
        store.close()
    for exp in expected_spo2(sent):
        assert exp.condition in alarms or "spo2_low_severe" in alarms, (exp, list(alarms))
    severe = alarms["spo2_low_severe"]
    assert t0 + 30 + 14 <= severe.started_at <= t0 + 30 + 17, severe.started_at - t0
    assert severe.ended_at is None
