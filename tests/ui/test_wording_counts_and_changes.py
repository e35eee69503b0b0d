"""Small words a nurse reads: a count of one in the singular, and a device change that says what changes."""

from __future__ import annotations

from typing import Any

from drivers.core.readings import Parameter, Reading
from monitor.app.device import DeviceSpec
from monitor.session import Baseline

T0 = 1_790_000_000.0


def test_one_item_still_to_score_is_said_in_the_singular(qtbot: Any) -> None:
    """"Still to score: 1 items." """
    from ui.discharge_dialog import DischargeDialog

    readings = [Reading(T0, Parameter.HR, 75.0, "test"), Reading(T0, Parameter.SPO2, 97.0, "test"),
                Reading(T0, Parameter.NIBP_SYS, 130.0, "test"), Reading(T0, Parameter.NIBP_DIA, 80.0, "test")]
    dialog = DischargeDialog(None, readings, Baseline(T0, 72.0, Parameter.HR, 98.0, 130.0, 80.0, 97.0))
    qtbot.addWidget(dialog)
    names = list(dialog.groups)
    for name in names[:-2]:
        dialog.set_item(name, 2)
    dialog.update_result()
    assert dialog.result_label.text() == "Still to score: 2 items."
    dialog.set_item(names[-2], 2)
    dialog.update_result()
    assert dialog.result_label.text() == "Still to score: 1 item."


def test_a_change_of_the_simulator_alone_says_what_changes() -> None:
    """"Continue this session with simulated (now: simulated)?" when only its speed changed."""
    from ui.settings_dialog import device_change_question

    now = DeviceSpec(driver="simulated", speed=10.0)
    assert device_change_question(DeviceSpec(driver="simulated", speed=60.0), now).startswith(
        "Continue this session with simulated (speed from 10 to 60)? ")
    assert device_change_question(DeviceSpec(driver="simulated", speed=10.0, scenario="desaturation"), now).startswith(
        "Continue this session with simulated (scenario from normal to desaturation)? ")
    # Another device: both named, as before.
    assert "(now: simulated)?" in device_change_question(DeviceSpec(driver="nonin", port="/dev/pts/2"), now)
