"""Changing the device from the live window keeps every option it was started with.

Two real emulator processes (``infusion-monitor emulate``) play a Nonin in data format #8 on two
pseudo-terminals. The window starts on the first through the application layer, as ``gui`` does,
and the nurse moves it to the second port in the settings dialog. Format #8 frames are 4 bytes
(format #2: 5), so readings keep arriving only if ``format=8`` survived the change.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.core.readings import Parameter
from monitor.app.device import DeviceSpec
from monitor.app.services import ServiceSpec
from monitor.app.sessions import SessionSpec
from monitor.store import Store
from tests.conftest import REPO_ROOT
from tests.ui.conftest import NURSE, stored_events
from ui.dialogs import ConfirmDialog, SignedInUser
from ui.settings_dialog import SettingsDialog

WAIT_MS = 20_000
pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX pseudo-terminals")


def _emulator() -> tuple[subprocess.Popen[str], str]:
    """A Nonin emulator in format #8 on a new pty; returns the process and the pty's path."""
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "emulate", "--protocol", "nonin", "--set", "format=8",
         "--port", "pty", "--duration", "120"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r" on (/dev/\S+) ", line)
    if found is None:
        process.kill()
        process.wait()
        process.stdout.close()
        pytest.fail(f"the emulator did not say where it writes: {line!r}")
    return process, found.group(1)


@pytest.fixture
def emulators() -> Iterator[list[str]]:
    started = [_emulator() for _ in range(2)]
    yield [path for _process, path in started]
    for process, _path in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _spo2_after(window: Any, t: float) -> bool:
    status = window.last_status
    return status is not None and any(
        r.parameter is Parameter.SPO2 and r.value is not None and r.t > t for r in status.latest
    )


def test_moving_to_another_port_keeps_driver_settings_seed_and_link_timeout(
    qtbot: Any, db_path: Path, emulators: list[str]
) -> None:
    from ui.app import start_live

    first, second = emulators
    spec = SessionSpec(
        device=DeviceSpec(driver="nonin", port=first, settings={"format": "8"}, port_overrides={"baudrate": 19200},
                          seed=7, link_lost_after_s=7.5),
        nurse=NURSE,
    )
    store = Store(db_path)
    run = start_live(spec, ServiceSpec(), SignedInUser(NURSE, "nurse"), store)
    window = run.window
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: _spo2_after(window, 0.0), timeout=WAIT_MS)
        assert window.device == spec.device

        window.settings_button.click()
        dialog = window.dialog
        assert isinstance(dialog, SettingsDialog)
        dialog.port_box.setEditText(second)
        assert dialog.device_changed()
        dialog._check()  # OK: the change is asked over the dialog
        assert isinstance(dialog.device_question, ConfirmDialog)
        dialog.device_question.yes_button.click()
        qtbot.waitUntil(lambda: window.device.port == second, timeout=WAIT_MS)

        # Every option but the port is what the session was started with.
        assert window.device == DeviceSpec(driver="nonin", port=second, settings={"format": "8"},
                                           port_overrides={"baudrate": 19200}, seed=7, link_lost_after_s=7.5)
        source = window.bridge.recorder.source
        assert source.url == second
        assert source.decoder.data_format == 8
        assert source.link.link_lost_after_s == 7.5
        assert source.settings.baudrate == 19200
        # And the device keeps being read: format #8 frames decode only with format=8.
        switched_at = time.time()
        qtbot.waitUntil(lambda: _spo2_after(window, switched_at), timeout=WAIT_MS)
        assert window.last_status.link.frames_rejected == 0
        [changed] = stored_events(db_path, "device_changed")
        assert second in changed.detail["device"]
    finally:
        run.shutdown()
        store.close()


def test_choosing_another_driver_leaves_the_old_drivers_settings_behind_and_keeps_the_rest() -> None:
    spec = DeviceSpec(driver="nonin", port="/dev/ttyUSB0", settings={"format": "8"}, seed=7, link_lost_after_s=7.5,
                      pleth=True)
    same = spec.switched_to("nonin", "/dev/ttyUSB1", {"baudrate": 19200})
    assert (same.settings, same.seed, same.link_lost_after_s, same.pleth) == ({"format": "8"}, 7, 7.5, True)
    assert same.port_overrides == {"baudrate": 19200}
    other = spec.switched_to("masimo-ascii", "/dev/ttyUSB1", {})
    assert other.settings == {}  # a Nonin data format means nothing to a Masimo
    assert (other.seed, other.link_lost_after_s, other.pleth) == (7, 7.5, True)


def test_the_settings_dialog_shows_and_takes_the_drivers_settings(qtbot: Any) -> None:
    """A nurse moving the chair to a Nonin in data format #8 had no field for ``format=8`` (only ``--set`` at the
    command line): the Nonin was read as format #2 and every frame refused."""
    spec = DeviceSpec(driver="nonin", port="/dev/ttyUSB0", settings={"format": "8"},
                      settings_by_driver={"hl7-mllp": {"allow_from": "10.0.4.17,10.0.4.18", "idle_timeout": "60"}})
    dialog = SettingsDialog(None, current=spec, nibp_minutes={}, rules=[], can_edit_limits=False)
    qtbot.addWidget(dialog)
    assert dialog.driver_settings.text() == "format=8"
    dialog.driver_box.setCurrentIndex(dialog.driver_box.findData("masimo-ascii"))
    assert dialog.driver_settings.text() == ""
    dialog.driver_box.setCurrentIndex(dialog.driver_box.findData("hl7-mllp"))
    assert dialog.driver_settings.text() == "allow_from=10.0.4.17,10.0.4.18; idle_timeout=60"
    dialog.driver_box.setCurrentIndex(dialog.driver_box.findData("nonin"))
    dialog.driver_settings.setText("format=2")
    assert dialog.device_changed() and dialog.device_choice().settings == {"format": "2"}
    dialog.driver_settings.setText("format 8")
    dialog._check()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert dialog.error_label.text() == "driver settings: 'format 8' is not KEY=VALUE"


def test_a_simulated_chair_moved_to_a_nonin_in_format_8_from_the_settings_reads_it(
    qtbot: Any, db_path: Path, emulators: list[str]
) -> None:
    from ui.app import start_live

    spec = SessionSpec(device=DeviceSpec(driver="simulated", speed=1.0), nurse=NURSE)
    store = Store(db_path)
    run = start_live(spec, ServiceSpec(), SignedInUser(NURSE, "nurse"), store)
    window = run.window
    qtbot.addWidget(window)
    try:
        window.settings_button.click()
        dialog = window.dialog
        assert isinstance(dialog, SettingsDialog)
        dialog.driver_box.setCurrentIndex(dialog.driver_box.findData("nonin"))
        dialog.port_box.setEditText(emulators[0])
        dialog.driver_settings.setText("format=8")
        dialog._check()
        assert isinstance(dialog.device_question, ConfirmDialog)
        dialog.device_question.yes_button.click()
        qtbot.waitUntil(lambda: window.device.driver == "nonin", timeout=WAIT_MS)
        assert window.device.settings == {"format": "8"}
        switched_at = time.time()
        qtbot.waitUntil(lambda: _spo2_after(window, switched_at), timeout=WAIT_MS)
        assert window.bridge.recorder.source.decoder.data_format == 8
        assert window.last_status.link.frames_rejected == 0
    finally:
        run.shutdown()
        store.close()


def test_the_device_change_question_says_what_changes_from_what() -> None:
    """Only the baud rate (or a format) may change on one port: the question names both sides, where it named the
    same driver and port twice ("Continue this session with nonin on /dev/pts/2?")."""
    from ui.settings_dialog import device_change_question

    now = DeviceSpec(driver="nonin", port="/dev/pts/2", settings={"format": "2"})
    chosen = DeviceSpec(driver="nonin", port="/dev/pts/2", settings={"format": "2"}, port_overrides={"baudrate": 19200})
    question = device_change_question(chosen, now)
    assert question.startswith("Continue this session with nonin on /dev/pts/2 (format=2, baudrate=19200) "
                               "(now: nonin on /dev/pts/2 (format=2))?"), question
