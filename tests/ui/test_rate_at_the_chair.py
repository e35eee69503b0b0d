"""At the chair, a rate typed in a hurry: the window asks why a rate beyond the protocol's maximum, and corrects
a rate entered in error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from monitor.session import Phase
from tests.ui.conftest import stored_events
from tests.ui.test_score_correction import _tab_to
from ui.chair_dialogs import RateDialog
from ui.dialogs import EntryCorrection, TextDialog


def _infusing(make_window: Any, qtbot: Any) -> Any:
    """A live window once the planned ketamine infusion (0.5 mg/kg over 40 min for 80 kg: 60 mg/h) has started."""
    window = make_window(speed=120.0, plan="baseline:1,infusion:40,recovery:30", first_status=True,
                         protocol="ketamine-iv")
    window.send("checklist", quick="f6 e t:partner c m- w80")
    window.send("plan_dose", weight_kg=80, dose_mg_per_kg=0.5, duration_min=40)
    qtbot.waitUntil(lambda: window.last_status.phase is Phase.INFUSION, timeout=60_000)
    return window


def _focus(window: Any, qtbot: Any) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)


def test_at_the_chair_a_rate_beyond_the_range_asks_for_the_reason_and_records_it(
    make_window: Any, qtbot: Any, db_path: Path
) -> None:
    """D during the infusion, '600', Enter: the window asks why instead of recording it; the reason is kept."""
    window = _infusing(make_window, qtbot)
    _focus(window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_D)
    rate = window.dialog
    assert isinstance(rate, RateDialog)
    assert rate.correction is None and rate.findChild(EntryCorrection) is None  # no rate entered yet: none to correct
    qtbot.keyClicks(rate.entry, "600")
    qtbot.keyClick(rate.entry, Qt.Key.Key_Return)
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


def test_at_the_chair_the_last_rate_is_corrected_as_entered_in_error_with_a_reason(
    make_window: Any, qtbot: Any, db_path: Path
) -> None:
    """D again after a wrong rate: the dialog names the last rate; ticked, it refuses to record the correction
    until a reason is typed, then replaces the wrong rate from its own time."""
    window = _infusing(make_window, qtbot)
    window.send("rate_change", rate_mg_per_h=45.0)
    qtbot.waitUntil(lambda: bool(stored_events(db_path, "rate_changed")), timeout=10_000)
    qtbot.waitUntil(lambda: any(e.kind.value == "rate_changed" for e in window.events), timeout=10_000)
    _focus(window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_D)
    rate = window.dialog
    assert isinstance(rate, RateDialog)
    offered = rate.findChild(EntryCorrection)
    assert offered is not None and offered.box.text().startswith("Corrects the last rate, 45 mg/h at ")
    qtbot.keyClicks(rate.entry, "54")
    _tab_to(qtbot, rate, offered.box)
    qtbot.keyClick(offered.box, Qt.Key.Key_Space)
    assert offered.box.isChecked() and offered.reason.hasFocus()
    qtbot.keyClick(offered.reason, Qt.Key.Key_Return)  # no reason typed: refused, the dialog stays
    assert rate.isVisible() and rate.result() != RateDialog.DialogCode.Accepted
    assert "needs a reason" in rate.message.text() and offered.reason.hasFocus()
    assert len(stored_events(db_path, "rate_changed")) == 1
    qtbot.keyClicks(offered.reason, "typed 45 for 54")
    qtbot.keyClick(offered.reason, Qt.Key.Key_Return)
    assert rate.result() == RateDialog.DialogCode.Accepted
    qtbot.waitUntil(lambda: len(stored_events(db_path, "rate_changed")) == 2, timeout=10_000)
    wrong, corrected = stored_events(db_path, "rate_changed")
    assert corrected.detail == {"rate_mg_per_h": 54.0, "corrects_at": wrong.t, "corrected_value": "45 mg/h",
                                "correction_reason": "typed 45 for 54", "corrected_rate_mg_per_h": 45.0}


def test_the_review_timeline_marks_a_rate_in_error() -> None:
    from monitor.session import EventKind, SessionEvent
    from ui.review_window import clock, event_detail

    wrong = SessionEvent(100.0, EventKind.RATE_CHANGED, Phase.INFUSION, "RN", {"rate_mg_per_h": 45.0})
    right = SessionEvent(220.0, EventKind.RATE_CHANGED, Phase.INFUSION, "RN", {
        "rate_mg_per_h": 54.0, "corrects_at": 100.0, "corrected_value": "45 mg/h",
        "correction_reason": "typed 45 for 54", "corrected_rate_mg_per_h": 45.0})
    assert event_detail(wrong, right) == ("rate 45 mg/h   (SUPERSEDED, entered in error: corrected to 54 mg/h by RN "
                                          f"at {clock(220.0)}: typed 45 for 54)")
    assert event_detail(right) == "rate 54 mg/h, correcting 45 mg/h entered in error: typed 45 for 54"


def test_during_esketamine_dosing_the_dose_key_offers_the_dose_plan_not_a_rate(
    make_window: Any, qtbot: Any, db_path: Path
) -> None:
    """A nasal spray has no rate (its protocol is not infused): D during dosing asked for a "New infusion rate in
    mg/h" and recorded one. It offers the dose plan, as before dosing, and the button says so."""
    from ui.chair_dialogs import DoseDialog
    from ui.live_window import DOSE_BUTTON_TEXT

    window = make_window(speed=120.0, plan="baseline:1,infusion:40,recovery:30", first_status=True,
                         protocol="esketamine-nasal")
    window.send("plan_dose", total_mg=56, lot="LOT42")
    qtbot.waitUntil(lambda: window.last_status.phase is Phase.INFUSION, timeout=60_000)
    qtbot.waitUntil(lambda: window.quick_buttons["dose_change"].text() == DOSE_BUTTON_TEXT[False][0], timeout=10_000)
    _focus(window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert isinstance(window.dialog, DoseDialog)
    window.dialog.reject()
    assert not stored_events(db_path, "rate_changed")
