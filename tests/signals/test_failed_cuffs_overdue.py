"""Cuffs that fail every cycle during the infusion, through the HL7 listener and the recorder: CLINICAL.md's
"NIBP overdue (more than 1.5 cycles since the last reading)" counts usable readings only."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from drivers.core.readings import Parameter, Reading
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import Session
from tests.signals.harness import exchange, hl7_session, oru


def test_failed_cuffs_every_cycle_make_the_cuff_overdue(tmp_path: Path) -> None:
    engine = AlarmEngine()
    now = time.time()
    started = now - 590
    source, (host, port), store, sid = hl7_session(tmp_path / "overdue.db", started)
    session = Session(sid, started, SessionPlan())
    session.start_baseline(at=started + 1)
    for parameter, value in ((Parameter.PR, 72.0), (Parameter.SPO2, 97.0), (Parameter.NIBP_SYS, 124.0),
                             (Parameter.NIBP_DIA, 78.0), (Parameter.NIBP_MEAN, 93.0)):
        session.observe(Reading(started + 2, parameter, value, "hl7-mllp"))
    session.start_infusion(at=started + 5)
    recorder = Recorder(store, source, session, nurse="RN", alarms=engine)
    recorder.start()
    try:
        with socket.create_connection((host, port), timeout=5) as mon:
            for k, at in enumerate((started + 200, started + 500)):
                exchange(mon, oru(f"F{k}", {"nibp_sys": None, "nibp_dia": None, "nibp_mean": None}, at))
            for i in range(3):
                exchange(mon, oru(f"S{i}", {"spo2": 97, "pr": 72}, time.time()))
                time.sleep(1.0)
            shown = {a.condition: a for a in engine.snapshot(time.time()).active}
    finally:
        recorder.stop()
        store.close()
    elapsed = time.time() - started - 5
    assert "nibp_overdue" in shown, f"{elapsed:.0f} s into the infusion, no usable cuff: {list(shown)}"
