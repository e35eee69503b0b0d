"""The infusion starts with the baseline its question showed: a value that changes it while the question stands open
(a cuff coming in) has the question asked again with the new baseline, never a silent other one."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from monitor.session import Phase
from tests.ui.test_live_window import WAIT_MS, _checklist_and_dose, _confirm
from ui.dialogs import ConfirmDialog


def _question(window: Any) -> str:
    assert isinstance(window.dialog, ConfirmDialog), window.dialog
    return str(window.dialog.findChildren(type(window.message))[0].text())


def test_a_baseline_changed_while_the_question_was_open_is_asked_again(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=120.0, first_status=True)
    w.phase_buttons["start_baseline"].click()
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.BASELINE, timeout=WAIT_MS)
    _checklist_and_dose(qtbot, w)
    qtbot.waitUntil(lambda: w.last_status.step_check.ready, timeout=WAIT_MS)
    w.phase_buttons["start_infusion"].click()
    first = _question(w)
    # A cuff came in while the question stood open: the baseline to be used now reads otherwise. (Set by hand, and
    # confirmed at once, before the window's next status could come.)
    status = w.last_status
    baseline = status.step_check.baseline
    moved = dataclasses.replace(baseline, nibp_dia=baseline.nibp_dia + 6)
    w.last_status = dataclasses.replace(status, step_check=dataclasses.replace(status.step_check, baseline=moved))
    _confirm(w)
    assert "The baseline changed while the question was open" in w.message.text()
    second = _question(w)
    assert second != first and f"/{round(moved.nibp_dia)} (" in second, second
    assert w.last_status.phase is Phase.BASELINE
    _confirm(w)  # what it shows now is what is used
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.INFUSION, timeout=WAIT_MS)
