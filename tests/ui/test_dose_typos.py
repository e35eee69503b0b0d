"""A dose typed in a hurry: a slip of a decimal point or a digit is caught, and a correction keeps the truth."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.dose import DoseNeedsConfirmation, dose_record
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.session import Phase
from monitor.store import Store

T0 = 1_790_000_000.0
IV = load_protocol("ketamine-iv")


@pytest.fixture
def recorder(store: Store) -> Iterator[Recorder]:
    plan = SessionPlan(5, 40, 30)
    source = SimulatedSource(seed=2, speed=math.inf, start_time=T0, plan=plan.phase_times())
    rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=plan, autopilot=True,
                               nurse="RN", protocol=IV)
    yield rec
    rec.run(until=lambda r: True)


def _run(rec: Recorder, name: str, **args: object) -> object:
    future = rec.submit(name, "RN", **args)
    rec.step()
    return future.result(timeout=0)


def _dose(rec: Recorder) -> object:
    rec.flush()
    return dose_record(rec.store.events(rec.session.id))


def _until(rec: Recorder, phase: Phase, after_s: float = 0.0) -> None:
    while not (rec.session.phase is phase and rec.session.now - rec.session.phase_started_at[phase] >= after_s):
        rec.step()


def test_a_dose_plan_weight_the_checklist_refuses_is_not_dosed_on_without_a_question(recorder: Recorder) -> None:
    """w82.5 in the checklist; 8.25 typed in the dose form (one digit slipped): 4.1 mg instead of 41 mg.

    The checklist refuses 8.25 kg (outside 25-300 kg); the dose plan, which turns the weight into milligrams,
    takes it and takes a weight ten times the checklist's, without a word.
    """
    _until(recorder, Phase.BASELINE, 5)
    _run(recorder, "checklist", quick="f6 e t:partner c m- w82.5")
    with pytest.raises(ValueError, match="outside"):
        _run(recorder, "checklist", quick="w8.25")  # the checklist knows no adult weighs 8.25 kg
    try:
        _run(recorder, "plan_dose", weight_kg=8.25, dose_mg_per_kg=0.5, duration_min=40)
    except ValueError:
        return
    planned = _dose(recorder).plan
    pytest.fail(f"a dose planned on {planned.weight_kg} kg ({planned.total_mg} mg) against the checklist's 82.5 kg "
                "was recorded without a question")


def test_a_dose_plan_on_a_weight_other_than_the_checklists_asks_why(recorder: Recorder) -> None:
    """w82.5 in the checklist; 28.5 typed in the dose form (digits swapped): a third of the dose, in range."""
    _until(recorder, Phase.BASELINE, 5)
    _run(recorder, "checklist", quick="f6 e t:partner c m- w82.5")
    with pytest.raises(DoseNeedsConfirmation, match=r"checklist says 82\.5 kg"):
        _run(recorder, "plan_dose", weight_kg=28.5, dose_mg_per_kg=0.5, duration_min=40)
    _run(recorder, "plan_dose", weight_kg=80.0, dose_mg_per_kg=0.5, duration_min=40)  # weighed again today: close
    _run(recorder, "plan_dose", weight_kg=28.5, dose_mg_per_kg=0.5, duration_min=40, confirm_reason="weighed now")
    assert _dose(recorder).plan.weight_kg == 28.5


def test_a_rate_ten_times_the_plan_needs_the_confirmation_a_plan_outside_the_range_needs(recorder: Recorder) -> None:
    """0.5 mg/kg over 40 min for 80 kg is 60 mg/h. '600' for '60.0' (the point missed) runs 5 mg/kg over the
    40 minutes, five times the protocol's 1.0 mg/kg maximum; as a plan it would need a reason."""
    _until(recorder, Phase.BASELINE, 5)
    _run(recorder, "checklist", quick="f6 e t:partner c m- w80")
    _run(recorder, "plan_dose", weight_kg=80, dose_mg_per_kg=0.5, duration_min=40)
    with pytest.raises(DoseNeedsConfirmation):  # the same amount as a plan is refused without a reason
        _run(recorder, "plan_dose", weight_kg=80, dose_mg_per_kg=5.0, duration_min=40)
    _until(recorder, Phase.INFUSION, 60)
    try:
        _run(recorder, "rate_change", rate_mg_per_h=600.0)
    except DoseNeedsConfirmation:
        _run(recorder, "rate_change", rate_mg_per_h=600.0, confirm_reason="ordered by Dr. Lee")  # a reason: recorded
        return
    pytest.fail("a rate of 600 mg/h (5 mg/kg over the planned 40 min; protocol maximum 1.0 mg/kg) was recorded "
                "without a confirmation")


def test_at_the_chair_a_rate_beyond_the_range_asks_for_the_reason_and_records_it(
    make_window: Any, qtbot: Any, db_path: Path
) -> None:
    """D during the infusion, '600', Enter: the window asks why instead of recording it; the reason is kept."""
    from PySide6.QtCore import Qt

    from tests.ui.conftest import stored_events
    from ui.dialogs import TextDialog

    window = make_window(speed=120.0, plan="baseline:1,infusion:40,recovery:30", first_status=True,
                         protocol="ketamine-iv")
    window.send("checklist", quick="f6 e t:partner c m- w80")
    window.send("plan_dose", weight_kg=80, dose_mg_per_kg=0.5, duration_min=40)
    qtbot.waitUntil(lambda: window.last_status.phase is Phase.INFUSION, timeout=60_000)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window, Qt.Key.Key_D)
    rate = window.dialog
    assert isinstance(rate, TextDialog)
    qtbot.keyClicks(rate.editor, "600")
    qtbot.keyClick(rate.editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.dialog is not None and window.dialog is not rate, timeout=10_000)
    assert not stored_events(db_path, "rate_changed")
    ask = window.dialog
    assert isinstance(ask, TextDialog) and "outside the protocol" in ask.windowTitle()
    qtbot.keyClicks(ask.editor, "ordered by Dr. Lee")
    qtbot.keyClick(ask.editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(stored_events(db_path, "rate_changed")), timeout=10_000)
    [changed] = stored_events(db_path, "rate_changed")
    assert changed.detail["rate_mg_per_h"] == 600.0
    assert changed.detail["confirmed_reason"] == "ordered by Dr. Lee"
