"""A cuff result held back by a gateway and delivered after a newer one, through the HL7 listener and the
recorder: the newest cuff is the patient's blood pressure (CLINICAL.md: NIBP is a spot value)."""

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


def test_an_older_normal_cuff_delivered_late_does_not_end_the_crisis_of_the_newest(tmp_path: Path) -> None:
    engine = AlarmEngine()
    now = time.time()
    started = now - 400
    source, (host, port), store, sid = hl7_session(tmp_path / "cuff.db", started)
    recorder = Recorder(store, source, Session(sid, started, SessionPlan()), nurse="RN", alarms=engine)
    recorder.start()
    shown: dict[str, AlarmRecord] = {}
    try:
        with socket.create_connection((host, port), timeout=5) as mon:
            assert b"MSA|AA" in exchange(mon, oru("N1", {"nibp_sys": 196, "nibp_dia": 104, "nibp_mean": 135}, now - 2))
            # the cuff of five minutes before, held by the gateway, sent after the newest
            assert b"MSA|AA" in exchange(mon, oru("N0", {"nibp_sys": 124, "nibp_dia": 78, "nibp_mean": 93}, now - 300))
            time.sleep(1.5)
            shown = {a.condition: a for a in engine.snapshot(time.time()).active}
    finally:
        recorder.stop()
        store.close()
    crisis = shown.get("nibp_sys_crisis")
    assert crisis is not None, list(shown)
    assert crisis.ended_at is None, (
        f"'{crisis.shown}': the crisis of the newest cuff (196) ended by the cuff of 5 min before (124)"
    )
