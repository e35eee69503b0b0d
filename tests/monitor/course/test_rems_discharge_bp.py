"""The REMS form's "blood pressure before discharge" is never the cuff taken before dosing.

CLINICAL.md: the form records BP before dosing, at 40 min and before discharge. For a session closed during dosing
(the patient left, a crash closed later), the "before discharge" check looked at the 15 minutes before the record's
end and took the pre-dose cuff: the form (JSON export, course, worksheet) reported the pre-dose 126/75 as the blood
pressure before discharge.
"""

from __future__ import annotations

from pathlib import Path

from monitor import rems
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.session import EventKind
from monitor.store import Store
from tests.monitor.course.recording import NURSE, run_for, run_now
from tests.monitor.course.scripted_patient import Scripted

ESK = load_protocol("esketamine-nasal")


def _dosed(store: Store, plan: SessionPlan) -> tuple[Recorder, str]:
    """An esketamine session of a new patient at its first spray (6 min of pre-dose, the checklist on paper)."""
    patient = store.create_patient("MRN-3", "Kim Lee", "1980-01-01")
    rec = Recorder.new_session(store, Scripted(lambda r, m: r), driver="simulated", port=None, plan=plan,
                               nurse=NURSE, patient_id=patient, protocol=ESK, nibp_schedule=ESK.cuff,
                               alarms=AlarmEngine())
    run_now(rec, "start_baseline")
    run_now(rec, "plan_dose", total_mg=56, lot="LOT42")
    run_for(rec, 6)
    run_now(rec, "start_infusion", override_reason="checklist on paper")
    return rec, patient


def test_a_session_closed_during_dosing_has_no_bp_before_discharge(tmp_path: Path) -> None:
    with Store(tmp_path / "e.db") as store:
        rec, patient = _dosed(store, SessionPlan(5, 10, 110))
        run_for(rec, 8)
        events = list(rec.watch.events)
        first_spray = next(e.t for e in events if e.kind is EventKind.INFUSION_STARTED)
        row = store.session_row(rec.session.id)
        form = rems.build_form(ESK, row, store.patient_row(patient), events, list(rec.watch.readings), rec.session.now)
        before_dosing = form.value("bp_before_dosing")
        assert before_dosing is not None
        cuffs_after_dosing = [r for r in rec.watch.readings if r.parameter.value == "nibp_sys" and r.t >= first_spray
                              and r.reliable]
        assert not cuffs_after_dosing  # no cuff has been taken since the first spray
        assert form.value("bp_before_discharge") is None, (
            f"BP before discharge {form.value('bp_before_discharge')} is the pre-dose cuff {before_dosing}")


def test_the_40_minute_cuff_is_never_also_the_bp_before_discharge(tmp_path: Path) -> None:
    """A session that ends (or is judged) within 15 minutes of its 40-minute cuff: that one cuff filled both the
    40-minute and the before-discharge pressure, where the form asks for three measurements. A cuff taken after it
    fills the second."""
    with Store(tmp_path / "e.db") as store:
        rec, patient = _dosed(store, SessionPlan(5, 5, 110))
        first_spray = rec.session.now
        run_for(rec, 5)
        run_now(rec, "stop_infusion")
        run_now(rec, "start_recovery")
        run_for(rec, 41 - (rec.session.now - first_spray) / 60.0)
        row = store.session_row(rec.session.id)

        def form() -> rems.RemsForm:
            return rems.build_form(ESK, row, store.patient_row(patient), list(rec.watch.events),
                                   list(rec.watch.readings), rec.session.now)

        at_40 = form().value("bp_40_min")
        assert at_40 is not None  # the protocol's 20-minute observation cuff at about 40 minutes
        assert form().value("bp_before_discharge") is None
        run_now(rec, "nibp_now")
        run_for(rec, 2)
        assert form().value("bp_before_discharge") is not None
        assert form().value("bp_40_min") == at_40
