"""At the chair, a rate typed in a hurry: the window asks why a rate beyond the protocol's maximum, and corrects
a rate entered in error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from monitor.session import Phase
from tests.ui.conftest import stored_events
from ui.chair_dialogs import RateDialog
from ui.dialogs import TextDialog


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
    assert rate.correction.isHidden()  # no rate entered yet: none to correct
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


def test_at_the_chair_the_last_rate_is_corrected_as_entered_in_error(
    make_window: Any, qtbot: Any, db_path: Path
) -> None:
    """D again after a wrong rate: the dialog names the last rate and a tick replaces it from its own time."""
    window = _infusing(make_window, qtbot)
    window.send("rate_change", rate_mg_per_h=45.0)
    qtbot.waitUntil(lambda: bool(stored_events(db_path, "rate_changed")), timeout=10_000)
    qtbot.waitUntil(lambda: any(e.kind.value == "rate_changed" for e in window.events), timeout=10_000)
    _focus(window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_D)
    rate = window.dialog
    assert isinstance(rate, RateDialog)
    assert not rate.correction.isHidden() and "45 mg/h" in rate.correction.text()
    qtbot.keyClicks(rate.entry, "54")
    rate.correction.setChecked(True)
    qtbot.keyClick(rate.entry, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(stored_events(db_path, "rate_changed")) == 2, timeout=10_000)
    wrong, corrected = stored_events(db_path, "rate_changed")
    assert corrected.detail["rate_mg_per_h"] == 54.0
    assert corrected.detail["corrects_at"] == wrong.t and corrected.detail["corrected_rate_mg_per_h"] == 45.0
