"""A gateway that repeats the last cuff result (with its own OBX-14) in every periodic message, as the README's
HL7 section says gateways do, through the HL7 listener and the recorder. CLINICAL.md: NIBP is a spot value;
"NIBP overdue" is more than 1.5 cycles since the last reading; discharge needs a cuff no older than a few minutes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from drivers import registry
from drivers.base import OpenOptions
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import Session
from monitor.store import Store
from tests.signals.harness import exchange, hl7_session, oru


def test_a_cuff_repeated_after_it_is_ten_minutes_old_is_not_a_new_cuff(tmp_path: Path) -> None:
    """The cuff measured at T is repeated, with its time T, in a message every 2 s. Once T is more than 10 min
    ago, the repeats must still be the same cuff: the blood pressure's age keeps growing."""
    db = tmp_path / "repeat.db"
    engine = AlarmEngine()
    now = time.time()
    started = now - 700
    cuff_at = now - 594  # 9 min 54 s ago
    source, (host, port), store, sid = hl7_session(db, started)
    session = Session(sid, started, SessionPlan())
    recorder = Recorder(store, source, session, nurse="RN", alarms=engine)
    recorder.start()
    try:
        with socket.create_connection((host, port), timeout=5) as mon:
            for i in range(8):
                # the periodic message: this second's SpO2 and pulse, and the last cuff with its own time
                spo2 = oru(f"S{i}", {"spo2": 97, "pr": 72}, time.time())
                cuff = oru(f"P{i}", {"nibp_sys": 128, "nibp_dia": 82, "nibp_mean": 97}, cuff_at)
                assert b"MSA|AA" in exchange(mon, spo2)
                assert b"MSA|A" in exchange(mon, cuff)
                time.sleep(2.0)
            time.sleep(1.0)
            age = recorder.status().nibp_age_s
    finally:
        recorder.stop()
        store.close()
    with Store(db) as check:
        cuffs = sorted({r.t for r in check.readings(sid) if r.parameter.value == "nibp_sys"})
    assert len(cuffs) == 1, (
        f"one cuff measured {time.time() - cuff_at:.0f} s ago stored as {len(cuffs)} cuffs, the newest "
        f"{time.time() - cuffs[-1]:.0f} s ago; NIBP age shown: {age:.0f} s"
    )


def test_the_previous_patients_cuff_is_not_this_patients_fresh_blood_pressure(tmp_path: Path) -> None:
    """A gateway repeats the last cuff it has, measured 20 min before this session began (the previous
    patient's), with its own OBX-14. It belongs to no session here: never this patient's blood pressure."""
    source = registry.get("hl7-mllp")().open(OpenOptions(port="127.0.0.1:0"))
    host, port = source.address  # type: ignore[attr-defined]
    db = tmp_path / "previous.db"
    store = Store(db)
    now = time.time()
    started = now - 5
    sid = store.create_session(started_at=started, patient_id=None, driver="hl7-mllp", port=f"{host}:{port}",
                               plan=SessionPlan().text(), nurse="RN")
    recorder = Recorder(store, source, Session(sid, started, SessionPlan()), nurse="RN", alarms=AlarmEngine())
    recorder.start()
    try:
        with socket.create_connection((host, port), timeout=5) as mon:
            exchange(mon, oru("Q1", {"nibp_sys": 171, "nibp_dia": 104, "nibp_mean": 126, "spo2": 97, "pr": 72},
                           started - 1200))
            time.sleep(1.0)
            latest = {r.parameter.value: r for r in recorder.status().latest}
            age = recorder.status().nibp_age_s
    finally:
        recorder.stop()
        store.close()
    assert "nibp_sys" not in latest, (
        f"a cuff measured 20 min before the session shown as NIBP {latest['nibp_sys'].value:g}, "
        f"{age:.0f} s ago"
    )
