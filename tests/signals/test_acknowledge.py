"""Acknowledging through the recorder while a flickering desaturation arrives over HL7 (CLINICAL.md:
acknowledging silences the present state; a worse state, a higher priority, sounds again; high alarms latch)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import AlarmRecord
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import Session
from tests.signals.harness import exchange, hl7_session, oru


def _active(engine: AlarmEngine) -> dict[str, AlarmRecord]:
    return {a.condition: a for a in engine.snapshot(time.time()).active}


def test_acknowledged_medium_then_worse_then_recovered(tmp_path: Path) -> None:
    engine = AlarmEngine()
    t0 = time.time() - 200
    source, (host, port), store, sid = hl7_session(tmp_path / "ack.db", t0 - 1)
    recorder = Recorder(store, source, Session(sid, t0 - 1, SessionPlan()), nurse="RN", alarms=engine)
    recorder.start()
    n = 0

    def play(values: list[float], start: float) -> None:
        nonlocal n
        for i, v in enumerate(values):
            n += 1
            exchange(mon, oru(f"A{n}", {"spo2": v, "pr": 72}, start + i))
        time.sleep(0.6)

    try:
        with socket.create_connection((host, port), timeout=5) as mon:
            play([91, 92] * 20, t0)  # a flicker below 92: medium
            medium = _active(engine)["spo2_low"]
            assert not medium.silenced
            recorder.submit("acknowledge", user="RN").result(5)
            time.sleep(0.5)
            assert _active(engine)["spo2_low"].silenced
            play([89, 88] * 12, t0 + 40)  # worse: below 90 for 24 s: high sounds
            severe = _active(engine)["spo2_low_severe"]
            assert not severe.silenced, "a higher priority after an acknowledgment must sound"
            play([97] * 10, t0 + 64)  # recovered: the high alarm latches until acknowledged
            latched = _active(engine)["spo2_low_severe"]
            assert latched.ended_at is not None and not latched.silenced
            recorder.submit("acknowledge", user="RN").result(5)
            time.sleep(0.5)
            after = _active(engine)
    finally:
        recorder.stop()
        store.close()
    assert "spo2_low_severe" not in after and "spo2_low" not in after, list(after)
