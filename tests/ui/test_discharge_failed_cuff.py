"""A failed cuff after a valid one does not take the blood pressure out of the discharge score.

CLINICAL.md ("Discharge criteria"): modified Aldrete circulation and PADSS vital signs are scored on the blood
pressure against baseline; "A failed cuff is not a normal cuff" - and not a missing pressure either. README: the
discharge form scores the BP and SpO2 items against the baseline and shows each value the decision rests on with
its age. The form was given the newest reading of each parameter, usable or not: a cuff 1 minute old that the
readiness check shows as fresh was ignored once the next cuff failed, circulation and vital signs scored 0 ("no
reliable blood pressure") and a fit patient failed Aldrete and PADSS (8/10 each).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from drivers.core.readings import NIBP_PARAMETERS, Flag
from monitor.protocols import load_protocol
from monitor.store import Store
from tests.monitor.course.recording import recovered_by_hand, run_for, run_now
from tests.monitor.course.scripted_patient import Scripted

IV = load_protocol("ketamine-iv")


def test_the_discharge_form_scores_the_last_valid_cuff(qtbot: Any, tmp_path: Path) -> None:
    from ui.discharge_dialog import DischargeDialog
    from ui.live_window import discharge_readings

    def edit(r, m):
        if m is not None and m >= 72.5 and r.parameter in NIBP_PARAMETERS:
            return replace(r, value=None, flags=frozenset({Flag.MEASUREMENT_FAILED}))
        return r

    with Store(tmp_path / "d.db") as store:
        rec = recovered_by_hand(store, Scripted(edit))  # ends with a valid cuff
        run_now(rec, "nibp_now")
        run_for(rec, 1)  # the next one fails
        status = rec.status()
        nibp = next(v for v in status.step_check.values if v.name == "NIBP")
        assert nibp.fresh, nibp  # the readiness check rests on the valid cuff
        readings = discharge_readings(status)  # what the live window hands the form
        dialog = DischargeDialog(None, readings, status.baseline, status.step_check)
        qtbot.addWidget(dialog)
        for group in dialog.groups.values():
            group.button(2).setChecked(True)
        dialog.escort.setChecked(True)
        dialog.no_driving.setChecked(True)
        result = dialog.discharge()
        assert result is not None
        circulation = next(i for i in result.aldrete.items if i.name == "circulation")
        assert circulation.score == 2, (
            f"circulation {circulation.score}/2 ({circulation.basis}); NIBP {nibp.text}; "
            f"Aldrete {result.aldrete.total}/10, PADSS {result.padss.total}/10")
