"""P pressed by mistake, or Resume forgotten: a pause left on for 5 minutes is a reminder on the alarm bar, gone at
the next P."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from monitor.session import Phase
from monitor.store import Store


def _reminder_rows(window: Any) -> list[str]:
    return [row.text() for row in window.alarm_bar.rows if row.isVisible() and "Infusion paused" in row.text()]


def test_a_pause_left_on_is_reminded_on_the_bar_and_ends_at_the_next_p(
    make_window: Any, qtbot: Any, db_path: Path
) -> None:
    window = make_window(speed=120.0, plan="baseline:1,infusion:40,recovery:30", first_status=True,
                         protocol="ketamine-iv")
    window.send("checklist", quick="f6 e t:partner c m- w80")
    window.send("plan_dose", weight_kg=80, dose_mg_per_kg=0.5, duration_min=40)
    qtbot.waitUntil(lambda: window.last_status.phase is Phase.INFUSION, timeout=60_000)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: window.last_status.infusion_paused, timeout=10_000)
    assert _reminder_rows(window) == []  # not at once: a short pause is no matter for an alarm
    qtbot.waitUntil(lambda: bool(_reminder_rows(window)), timeout=30_000)  # 5 min of the session: 2.5 s here
    [row] = _reminder_rows(window)
    assert row.startswith("* ")  # low priority, marked as such
    assert "if the pump runs, resume (P)" in row
    qtbot.keyClick(window, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: not window.last_status.infusion_paused and not _reminder_rows(window), timeout=10_000)
    store = Store(db_path)
    try:
        logged = [a for a in store.alarms(window.bridge.recorder.session.id) if a.condition == "infusion_paused"]
    finally:
        store.close()
    assert len(logged) == 1 and logged[0].ended_at is not None
