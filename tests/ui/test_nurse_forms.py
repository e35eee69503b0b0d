"""The nurse's forms at the chair: nothing a form must say is cut off, and the alarm keys work while one is open."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from drivers.core.readings import Parameter, Reading


def test_the_discharge_form_shows_every_blocker(qtbot: Any) -> None:
    """Three blockers and three values: the form kept five lines and cut the rest (a cuff too old and recovery
    not over are common together). What does not fit now scrolls, the blockers first."""
    from monitor.readiness import COMPLETE, Blocker, StepCheck, ValueAge
    from ui import theme
    from ui.discharge_dialog import DischargeDialog

    check = StepCheck(COMPLETE, (
        Blocker("recovery_too_short", "27.7 min of the 30 min planned recovery left"),
        Blocker("nibp_stale", "NIBP is 5.8 min old (at most 5 min for discharge)"),
        Blocker("high_alarm", "high-priority alarm on screen: *** SpO2 < 90"),
    ), None, (ValueAge("NIBP", "139/84 mmHg", 348.0, 300.0), ValueAge("SpO2", "98 %", 0.0, 60.0),
              ValueAge("HR", "73 /min", 0.0)))
    dialog = DischargeDialog(None, [], None, check)
    dialog.setStyleSheet(theme.STYLE_SHEET)
    qtbot.addWidget(dialog)
    dialog.show()
    QApplication.processEvents()
    label = dialog.ages_label
    needed = label.heightForWidth(label.width())
    assert needed <= label.height(), (needed, label.height(), label.text())


def test_the_discharge_form_shows_every_reason_the_criteria_are_not_met(qtbot: Any) -> None:
    """A failing score with several reasons: the verdict and three computed items left room for the first reason
    only. The reasons now come before the computed items, and what does not fit scrolls."""
    from monitor.session import Baseline
    from ui import theme
    from ui.discharge_dialog import DischargeDialog

    t0 = 1_790_000_000.0
    baseline = Baseline(t0, 72.0, Parameter.HR, 98.0, 124.0, 78.0, 93.0)
    vitals = [Reading(t0, Parameter.HR, 73.0, "t"), Reading(t0, Parameter.SPO2, 97.0, "t"),
              Reading(t0, Parameter.NIBP_SYS, 125.0, "t"), Reading(t0, Parameter.NIBP_DIA, 77.0, "t"),
              Reading(t0, Parameter.NIBP_MEAN, 93.0, "t")]
    dialog = DischargeDialog(None, vitals, baseline)
    dialog.setStyleSheet(theme.STYLE_SHEET)
    qtbot.addWidget(dialog)
    dialog.show()
    for name in dialog.groups:
        dialog.set_item(name, 2)
    dialog.set_item("aldrete_consciousness", 0)
    dialog.set_item("padss_activity", 0)
    dialog.set_item("padss_pain", 1)
    dialog.no_driving.setChecked(True)  # no escort
    QApplication.processEvents()
    result = dialog.discharge()
    assert result is not None and not result.passed and len(result.reasons) >= 2
    label = dialog.result_label
    needed = label.heightForWidth(label.width())
    assert needed <= label.height(), (needed, label.height(), result.reasons)


def test_the_first_admin_dialog_keeps_its_intro_readable_after_an_error(qtbot: Any, tmp_path: Any) -> None:
    """A wrapped error ('a PIN or password needs at least 6 characters') squeezed the wrapped intro above it."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel

    from ui import theme
    from ui.account_dialogs import AccountGate, FirstAdminDialog

    dialog = FirstAdminDialog(None, AccountGate(tmp_path / "a.db"))
    dialog.setStyleSheet(theme.STYLE_SHEET)
    qtbot.addWidget(dialog)
    dialog.show()
    QApplication.processEvents()
    dialog.name_edit.setText("admin")
    dialog.secret_edit.setText("12")
    dialog.again_edit.setText("12")
    qtbot.keyClick(dialog.again_edit, Qt.Key.Key_Return)
    QApplication.processEvents()
    assert dialog.isVisible()
    intro = next(label for label in dialog.findChildren(QLabel) if label.text().startswith("No accounts exist yet"))
    assert intro.height() >= intro.heightForWidth(intro.width()), (intro.height(), intro.heightForWidth(intro.width()))


def test_the_header_shows_what_the_nurse_must_still_enter_before_the_infusion(make_window: Any, qtbot: Any) -> None:
    """The header's line is cut at the screen's edge: what the nurse must still enter (the checklist, the dose)
    comes before the baseline's minimum time, which passes by itself."""
    window = make_window(first_status=True)
    window.resize(1280, 690)
    window.start_baseline()
    qtbot.waitUntil(lambda: window.last_status is not None and window.last_status.step_check is not None
                    and any(b.code == "dose_plan" for b in window.last_status.step_check.blockers)
                    and window.header.timers.text().startswith("Not ready"), timeout=30_000)
    QApplication.processEvents()
    label = window.header.timers
    shown = label.fontMetrics().elidedText(label.text(), Qt.TextElideMode.ElideRight,
                                           label.contentsRect().width())
    assert "dose" in shown or "fasting" in shown, shown


def test_a_refusal_goes_when_the_phase_it_spoke_of_is_over(make_window: Any, qtbot: Any) -> None:
    """"Cannot start infusion: take a baseline first" stayed over the chart for 12 s after the baseline started."""
    window = make_window(first_status=True)
    window.start_infusion()
    assert window.message.isVisible() and "baseline" in window.message.text()
    window.start_baseline()
    qtbot.waitUntil(lambda: window.last_status is not None and window.last_status.phase.value == "baseline",
                    timeout=10_000)
    qtbot.waitUntil(lambda: not window.message.isVisible(), timeout=2_000)


def test_ticking_emergency_sign_in_clears_the_complaint_about_the_pin(make_window: Any) -> None:
    window = make_window(first_status=True)
    window.sign_in()
    window.dialog.name_edit.setText("RN")
    window.dialog.secret_edit.setText("wrong-pin-1")
    window.dialog._check()
    assert "not recognised" in window.dialog.message.text()
    window.dialog.emergency_box.setChecked(True)
    assert "not recognised" not in window.dialog.message.text()
    assert "emergency" in window.dialog.message.text().lower()


def test_the_checklist_codes_show_fasting_at_the_protocols_minimum(make_window: Any) -> None:
    """Under esketamine (no food 2 h before) the checklist's hint and example said "f6", as if 6 h were asked
    for: both now give the active protocol's minimum (IV ketamine's is 4 h)."""
    from PySide6.QtWidgets import QLabel

    from ui.chair_dialogs import ChecklistDialog

    for protocol, code in (("esketamine-nasal", "f2"), ("ketamine-iv", "f4")):
        window = make_window(protocol=protocol, speed=1.0)
        window.checklist_entry()
        dialog = window.dialog
        assert isinstance(dialog, ChecklistDialog)
        [hint] = [label.text() for label in dialog.findChildren(QLabel) if "fasted" in label.text()]
        assert hint.startswith(f"{code} = fasted {code[1:]} h, the protocol's minimum; "), hint
        assert dialog.entry.placeholderText().startswith(f"e.g. {code} "), dialog.entry.placeholderText()
        assert "f6" not in hint + dialog.entry.placeholderText()
        dialog.entry.setText("zz")  # a refusal repeats the codes' help: with the same example
        assert f"{code} = fasted" in dialog.preview.text() and "f6" not in dialog.preview.text()
        dialog.reject()
