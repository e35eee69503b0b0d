"""Forms that do not move and work from the keyboard: discharge scoring, confirmations, score pickers."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from drivers.core.readings import Parameter, Reading
from monitor.session import Baseline
from ui import theme
from ui.dialogs import MOAAS_LEVELS, RASS_LEVELS, ConfirmDialog, LevelDialog
from ui.discharge_dialog import DischargeDialog

T0 = 1_790_000_000.0
BASELINE = Baseline(T0, 72.0, Parameter.HR, 98.0, 130.0, 80.0, 97.0)


def _vitals(t: float, sys: float, dia: float, spo2: float = 97.0) -> list[Reading]:
    return [
        Reading(t, Parameter.HR, 75.0, "test"),
        Reading(t, Parameter.SPO2, spo2, "test"),
        Reading(t, Parameter.NIBP_SYS, sys, "test"),
        Reading(t, Parameter.NIBP_DIA, dia, "test"),
        Reading(t, Parameter.NIBP_MEAN, (sys + 2 * dia) / 3, "test"),
    ]


def _styled(widget: Any) -> Any:
    widget.setStyleSheet(theme.STYLE_SHEET)
    return widget


def test_the_discharge_form_keeps_its_size_and_judges_the_newest_values(qtbot: Any) -> None:
    dialog = _styled(DischargeDialog(None, _vitals(T0, 190.0, 110.0), BASELINE))
    qtbot.addWidget(dialog)
    dialog.show()
    QApplication.processEvents()
    size = dialog.size()
    assert dialog.minimumSize() == dialog.maximumSize() == size  # fixed: nothing re-centres under the pointer
    for name in dialog.groups:
        dialog.set_item(name, 2)
        QApplication.processEvents()
        assert dialog.size() == size
    dialog.escort.setChecked(True)
    dialog.no_driving.setChecked(True)
    QApplication.processEvents()
    old = dialog.discharge()
    assert old is not None and not old.passed  # 190/110 is far from the baseline 130/80
    # A newer cuff arrives while the form is open: the window passes it with the status of every update.
    dialog.set_check(dialog.check, _vitals(T0 + 300, 132.0, 82.0))
    QApplication.processEvents()
    new = dialog.discharge()
    assert new is not None and new.aldrete.total > old.aldrete.total
    assert dialog.size() == size
    # Enter alone cancels; completing needs a deliberate choice.
    assert not dialog.complete_button.isDefault() and not dialog.complete_button.autoDefault()
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    assert dialog.result() == DischargeDialog.DialogCode.Rejected


def test_the_discharge_form_scores_against_the_protocols_marks(qtbot: Any) -> None:
    from PySide6.QtWidgets import QGroupBox

    from monitor.discharge import DischargeMarks

    dialog = _styled(DischargeDialog(None, _vitals(T0, 130.0, 80.0), BASELINE, marks=DischargeMarks(10, 9, False)))
    qtbot.addWidget(dialog)
    dialog.show()
    titles = [box.title() for box in dialog.findChildren(QGroupBox)]
    assert "Modified Aldrete (discharge at 10 or more)" in titles and "PADSS (discharge at 9 or more)" in titles
    for name in dialog.groups:
        dialog.set_item(name, 2)
    dialog.set_item("aldrete_activity", 1)
    dialog.no_driving.setChecked(True)  # no escort: this protocol does not require one
    QApplication.processEvents()
    result = dialog.discharge()
    assert result is not None and result.aldrete.total == 9 and not result.passed
    assert "below 10" in dialog.result_label.text() and "escort" not in dialog.result_label.text()
    dialog.set_item("aldrete_activity", 2)
    QApplication.processEvents()
    result = dialog.discharge()
    assert result is not None and result.passed


def test_the_styled_discharge_form_fits_a_small_screen_with_every_choice_readable(qtbot: Any) -> None:
    from PySide6.QtWidgets import QAbstractButton

    from monitor.dose import intervention

    # With oxygen on the timeline its box says the flow and the time: the longest text the form shows.
    oxygen = (T0, intervention("oxygen", dose=15.0))
    dialog = DischargeDialog(None, _vitals(T0, 130.0, 80.0), BASELINE, oxygen=oxygen)
    qtbot.addWidget(dialog)
    dialog.setStyleSheet(theme.STYLE_SHEET)  # as the window opens it: the style comes after construction
    dialog.show()
    QApplication.processEvents()
    assert dialog.width() <= 1240 and dialog.height() <= 680  # inside 1280x720 with a window frame
    for button in dialog.findChildren(QAbstractButton):
        if button.isVisible() and button.text():
            assert button.sizeHint().width() <= button.width(), f"{button.text()!r} is cut"


def test_unticked_boxes_and_radio_buttons_show_their_indicator(qtbot: Any) -> None:
    dialog = _styled(DischargeDialog(None, [], None))
    qtbot.addWidget(dialog)
    dialog.show()
    QApplication.processEvents()
    border = QColor("#8a97a5")
    for button in (dialog.groups["aldrete_activity"].button(2), dialog.escort):
        assert not button.isChecked()
        image = button.grab().toImage()
        # The indicator sits left of the text; its border colour appears nowhere else on the button.
        seen = {
            image.pixelColor(x, y).name()
            for x in range(min(image.width(), 40)) for y in range(image.height())
        }
        assert border.name() in seen, f"{button.text()!r}: no indicator drawn (colours {sorted(seen)[:6]})"


def test_a_confirmation_looks_like_what_enter_does(qtbot: Any) -> None:
    dialog = _styled(ConfirmDialog(None, "Start infusion", "Start the infusion now?", "Start infusion"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.no_button.isDefault() and "Enter" in dialog.no_button.text()
    assert dialog.yes_button.objectName() != "primary" and not dialog.yes_button.autoDefault()
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    assert dialog.result() == ConfirmDialog.DialogCode.Rejected


def test_a_digit_typed_into_the_level_list_records_at_once(qtbot: Any) -> None:
    moaas = LevelDialog(None, "MOAA/S", MOAAS_LEVELS, 5)
    qtbot.addWidget(moaas)
    moaas.show()
    qtbot.keyClick(moaas.list, Qt.Key.Key_2)
    assert moaas.result() == LevelDialog.DialogCode.Accepted and moaas.value() == 2
    rass = LevelDialog(None, "RASS", RASS_LEVELS, 0)
    qtbot.addWidget(rass)
    rass.show()
    qtbot.keyClick(rass.list, Qt.Key.Key_Minus)
    qtbot.keyClick(rass.list, Qt.Key.Key_3)
    assert rass.result() == LevelDialog.DialogCode.Accepted and rass.value() == -3
    bad = LevelDialog(None, "MOAA/S", MOAAS_LEVELS, 5)
    qtbot.addWidget(bad)
    bad.show()
    qtbot.keyClick(bad.list, Qt.Key.Key_7)  # no such level: nothing is recorded
    assert bad.isVisible() and bad.value() == 5


def test_every_level_of_a_scale_is_read_whole_without_scrolling_sideways(qtbot: Any) -> None:
    for scale, levels in (("MOAA/S", MOAAS_LEVELS), ("RASS", RASS_LEVELS)):
        dialog = LevelDialog(None, scale, levels, levels[0][0])
        qtbot.addWidget(dialog)
        dialog.setStyleSheet(theme.STYLE_SHEET)  # as the window opens it
        dialog.show()
        QApplication.processEvents()
        assert dialog.list.horizontalScrollBar().maximum() == 0, f"{scale}: a level is cut"
        assert dialog.width() <= 1240, scale


def test_the_discharge_form_asks_for_a_reason_when_the_criteria_are_not_met(qtbot: Any) -> None:
    """Completing against failed criteria is an override: the reason is asked for, and none is asked when
    the criteria are met; the missing discharge score is this form's own business, no blocker to show."""
    from monitor.readiness import COMPLETE, Blocker, StepCheck

    unscored = StepCheck(COMPLETE, (Blocker("discharge_not_scored", "discharge not scored"),))
    dialog = _styled(DischargeDialog(None, _vitals(T0, 130.0, 80.0), BASELINE, unscored))
    qtbot.addWidget(dialog)
    dialog.show()
    for name in dialog.groups:
        dialog.set_item(name, 2)
    dialog.no_driving.setChecked(True)  # no escort
    QApplication.processEvents()
    result = dialog.discharge()
    assert result is not None and not result.passed and result.reasons == ("no escort present",)
    assert "Not ready" not in dialog.ages_label.text()
    assert dialog.override.isVisible() and not dialog.complete_button.isEnabled()
    dialog.override.setText("escort waiting in the car park")
    QApplication.processEvents()
    assert dialog.complete_button.isEnabled() and dialog.override_reason() == "escort waiting in the car park"
    dialog.escort.setChecked(True)  # criteria met: no reason needed, none recorded
    QApplication.processEvents()
    assert dialog.complete_button.isEnabled() and not dialog.override.isVisible() and dialog.override_reason() == ""


def test_record_turned_off_under_the_keyboard_leaves_it_somewhere_harmless_and_says_why(qtbot: Any) -> None:
    """The cuff value turned 5 minutes old while "Record discharge and complete" had the keyboard: the keyboard
    went on to Cancel, and the Space meant for Record closed the form unrecorded, without a word."""
    from monitor.readiness import Blocker, StepCheck

    dialog = _styled(DischargeDialog(None, _vitals(T0, 130.0, 80.0), BASELINE, StepCheck("complete")))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=5_000)
    for name in dialog.groups:
        dialog.set_item(name, 2)
    dialog.escort.setChecked(True)
    dialog.no_driving.setChecked(True)
    assert dialog.complete_button.isEnabled()
    dialog.complete_button.setFocus()
    stale = Blocker("nibp_age", "the last cuff value is 5.1 min old (at most 5 min)")
    dialog.set_check(StepCheck("complete", (stale,)))
    assert not dialog.complete_button.isEnabled()
    assert QApplication.focusWidget() is dialog.override  # where the reason to go ahead is typed
    assert "Record is off" in dialog.hint.text() and "5.1 min old" in dialog.hint.text()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
    assert dialog.isVisible() and dialog.result() == 0


def test_the_discharge_result_area_is_no_tab_stop(qtbot: Any) -> None:
    """Tab from the no-driving box stopped on the result area, which showed nothing of it."""
    dialog = _styled(DischargeDialog(None, _vitals(T0, 130.0, 80.0), BASELINE))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=5_000)
    dialog.no_driving.setFocus()
    qtbot.keyClick(dialog.no_driving, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is dialog.cancel_button or QApplication.focusWidget() is dialog.complete_button
