"""An esketamine session whose record leaves a REMS field empty can still be completed through the F form.

CLINICAL.md ("Discharge, hardened"): blockers are overridden with a reason, which is recorded; README: the REMS
form is filled from the session where it knows it and the F form asks the rest. The blood pressure after dosing
is filled only from a cuff inside the 30-50 min window, the concomitant medications only from the pre-infusion
checklist (refused once dosing started). When the 40-min cuff failed, or the checklist was overridden, the field
stayed empty, the F form did not offer it, and the REMS refusal takes no override reason: the session could never
be completed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from drivers.core.readings import NIBP_PARAMETERS, Flag
from monitor.alarms.engine import AlarmEngine
from monitor.discharge import NurseAssessment, assess_discharge
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.readiness import OverrideRequired
from monitor.recorder import Recorder
from monitor.session import Phase, SessionRuleError
from monitor.store import Store
from tests.monitor.course.recording import NURSE, run_for, run_now
from tests.monitor.course.scripted_patient import Scripted

ESK = load_protocol("esketamine-nasal")
FIT = NurseAssessment(2, 2, 2, False, 2, 2, 2, 2, True, True)


def _cuffs_fail_between(first_min: float, last_min: float):
    def edit(r, m):
        if m is not None and r.parameter in NIBP_PARAMETERS and first_min <= m <= last_min:
            return replace(r, value=None, flags=frozenset({Flag.MEASUREMENT_FAILED}))
        return r
    return edit


def _answers_from_the_form(qtbot: Any, rec: Recorder, fill: dict[str, str]) -> dict[str, Any]:
    """What the nurse gives through the F form: the asked questions, and ``fill`` wherever the form offers it."""
    from ui.chair_dialogs import RemsDialog

    dialog = RemsDialog(None, rec.session.started_at, {}, now=rec.session.now)
    qtbot.addWidget(dialog)
    dialog.site.setText("Clinic North")
    dialog.ready_known.setChecked(True)
    for key in ("vitals_acceptable_before_dosing", "vitals_acceptable_before_discharge"):
        dialog.answers[key].setCurrentText("yes")
    dialog.answers["respiratory_depression"].setCurrentText("no")
    for key, value in fill.items():
        if key in dialog.texts:
            dialog.texts[key].setText(value)
        elif key in dialog.answers:
            dialog.answers[key].setCurrentText(value)
    return dialog.values()


def _finish(qtbot: Any, rec: Recorder, fill: dict[str, str], reason: str) -> None:
    run_now(rec, "score", scale="MOAA/S", value=5)
    run_now(rec, "score", scale="CADSS-6", value=0, items=[0] * 6)
    run_now(rec, "rems_answers", answers=_answers_from_the_form(qtbot, rec, fill))
    run_now(rec, "nibp_now")
    run_for(rec, 1)
    result = assess_discharge(list(rec.status().latest), rec.session.baseline, FIT)
    run_now(rec, "discharge_scored", **result.as_dict())
    try:
        run_now(rec, "complete", override_reason=reason)
    except OverrideRequired as refused:
        raise AssertionError(f"completion refused even with a reason: {refused}") from None
    assert rec.session.phase is Phase.COMPLETE


def _session(store: Store, edit) -> Recorder:
    patient = store.create_patient("MRN-1", "Kim Lee", "1980-01-01")
    return Recorder.new_session(store, Scripted(edit), driver="simulated", port=None, plan=SessionPlan(5, 10, 110),
                                nurse=NURSE, patient_id=patient, protocol=ESK, nibp_schedule=ESK.cuff,
                                alarms=AlarmEngine())


def test_missed_40_min_bp_does_not_lock_the_session_open(qtbot: Any, tmp_path: Path) -> None:
    with Store(tmp_path / "esk.db") as store:
        rec = _session(store, _cuffs_fail_between(28, 51))
        run_now(rec, "start_baseline")
        run_now(rec, "checklist", quick="f6 e t:partner c m:none p-")
        run_now(rec, "plan_dose", total_mg=56, lot="LOT42")
        run_for(rec, 6)
        run_now(rec, "start_infusion", override_reason="scores on paper")
        run_for(rec, 10)
        run_now(rec, "start_recovery")
        run_for(rec, 112)
        _finish(qtbot, rec, {"bp_40_min": "131/84"}, "40-min cuff failed; manual cuff at 41 min 131/84")


def test_a_checklist_overridden_at_dosing_does_not_lock_the_session_open(qtbot: Any, tmp_path: Path) -> None:
    with Store(tmp_path / "esk.db") as store:
        rec = _session(store, lambda r, m: r)
        run_now(rec, "start_baseline")
        run_now(rec, "plan_dose", total_mg=56, lot="LOT42")
        run_for(rec, 6)
        run_now(rec, "start_infusion", override_reason="checklist on paper, entered later")
        with pytest.raises(SessionRuleError):
            run_now(rec, "checklist", quick="f6 e t:partner c m:none p-")
        run_for(rec, 10)
        run_now(rec, "start_recovery")
        run_for(rec, 112)
        none = dict.fromkeys(("benzodiazepines", "sedative_hypnotics", "psychostimulants", "maois"), "no")
        _finish(qtbot, rec, none, "medications checked on paper: none")
