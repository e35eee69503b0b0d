"""Another setting for the device on the port being read, chosen in the live window.

The new device can open the port only once the running one has let go of it (a serial port is opened for one
reader alone, a TCP port is listened on once). The window once opened the new device first: the open was refused
by the recording's own hold on the port, and the nurse was told to end "another program", the monitor itself.

An emulated Nonin in data format #8 plays on one end of a virtual null-modem cable (real pseudo-terminals); the
window reads the other end through the application layer, as ``gui`` does.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from drivers.core.readings import Parameter
from drivers.emulation.device import Emulator
from drivers.emulation.registry import make_device
from drivers.transport.device_ports import SerialDevicePort
from monitor.app.device import DeviceSpec
from monitor.app.services import ServiceSpec
from monitor.app.sessions import SessionSpec
from monitor.store import Store
from tests.drivers.ptys import NullModem
from tests.ui.conftest import NURSE, stored_events
from ui.dialogs import ConfirmDialog, SignedInUser
from ui.settings_dialog import SettingsDialog

WAIT_MS = 20_000
pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX pseudo-terminals")


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[NullModem]:
    """A Nonin in data format #8 playing on the device end of a null-modem cable; the host end is the test's."""
    modem = NullModem(tmp_path)
    device = make_device("nonin", "normal", seed=3, settings={"format": "8"})
    port = SerialDevicePort(modem.device_path, device.port_settings)
    stop = threading.Event()
    player = threading.Thread(target=Emulator(device, 4.0).run, args=(port, None, stop), name="emulated-nonin")
    player.start()
    yield modem
    stop.set()
    player.join(10)
    port.close()
    modem.close()


@pytest.fixture
def live(qtbot: Any, db_path: Path) -> Iterator[Callable[[DeviceSpec], Any]]:
    """A live window recording from a device spec, through the application layer; shut down after the test."""
    from ui.app import start_live

    runs: list[tuple[Any, Store]] = []

    def start(device: DeviceSpec) -> Any:
        store = Store(db_path)
        run = start_live(SessionSpec(device=device, nurse=NURSE), ServiceSpec(), SignedInUser(NURSE, "nurse"), store)
        qtbot.addWidget(run.window)
        runs.append((run, store))
        return run.window

    yield start
    for run, store in runs:
        run.shutdown()
        store.close()


def _spo2_after(window: Any, t: float) -> bool:
    status = window.last_status
    return status is not None and any(
        r.parameter is Parameter.SPO2 and r.value is not None and r.t > t for r in status.latest
    )


def _told_to_end_itself(window: Any) -> list[str]:
    return [m for m in window.messages if "another program" in m]


def test_the_data_format_of_the_nonin_being_read_is_changed_on_its_own_port(
    qtbot: Any, db_path: Path, cable: NullModem, live: Callable[[DeviceSpec], Any]
) -> None:
    # Started in the wrong format: format #8 frames are refused by a format #2 decoder.
    window = live(DeviceSpec(driver="nonin", port=str(cable.host_link), settings={"format": "2"}, seed=7,
                             link_lost_after_s=7.5))
    qtbot.waitUntil(lambda: window.last_status is not None and window.last_status.link.bytes_in > 0, timeout=WAIT_MS)
    running = window.bridge.recorder.source

    window.settings_button.click()
    dialog = window.dialog
    assert isinstance(dialog, SettingsDialog)
    # The same port under its other name: the pseudo-terminal the cable's link points to.
    dialog.port_box.setEditText(os.path.realpath(cable.host_link))
    dialog.driver_settings.setText("format=8")
    dialog._check()
    assert isinstance(dialog.device_question, ConfirmDialog)
    dialog.device_question.yes_button.click()
    qtbot.waitUntil(lambda: window.device.settings == {"format": "8"}, timeout=WAIT_MS)

    assert window.message.text().startswith("Now reading ")
    source = window.bridge.recorder.source
    assert source is not running and source.decoder.data_format == 8
    assert (window.device.seed, window.device.link_lost_after_s) == (7, 7.5)
    switched_at = time.time()
    qtbot.waitUntil(lambda: _spo2_after(window, switched_at), timeout=WAIT_MS)
    assert window.last_status.link.frames_rejected == 0
    assert not _told_to_end_itself(window)
    [changing] = [e for e in stored_events(db_path, "technical") if e.detail["condition"] == "device_being_changed"]
    [changed] = stored_events(db_path, "device_changed")
    assert changing.t <= changed.t
    assert changed.detail["settings"] == {"format": "8"}
    assert "back_after" not in changed.detail


def test_a_setting_the_driver_refuses_gives_the_port_back_to_the_running_device(
    qtbot: Any, db_path: Path, cable: NullModem, live: Callable[[DeviceSpec], Any]
) -> None:
    started = DeviceSpec(driver="nonin", port=str(cable.host_link), settings={"format": "8"}, seed=7,
                         link_lost_after_s=7.5)
    window = live(started)
    qtbot.waitUntil(lambda: _spo2_after(window, 0.0), timeout=WAIT_MS)

    window.change_device(replace(started, settings={"format": "9"}))
    qtbot.waitUntil(lambda: window.device_opening is None, timeout=WAIT_MS)

    said = window.message.text()
    assert "nonin on " in said and "could not be used" in said and "format" in said
    assert "is reading again" in said
    assert not _told_to_end_itself(window)
    assert window.device == started
    source = window.bridge.recorder.source
    assert source.decoder.data_format == 8 and source.link.link_lost_after_s == 7.5
    back_at = time.time()
    qtbot.waitUntil(lambda: _spo2_after(window, back_at), timeout=WAIT_MS)
    [changed] = stored_events(db_path, "device_changed")
    assert changed.detail["settings"] == {"format": "8"} and "could not be used" in changed.detail["back_after"]
    assert not stored_events(db_path, "link_lost")


def test_when_even_the_running_device_cannot_open_again_the_link_lost_alarm_is_up(
    qtbot: Any, cable: NullModem, live: Callable[[DeviceSpec], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.app import device as app_device

    started = DeviceSpec(driver="nonin", port=str(cable.host_link), settings={"format": "8"})
    window = live(started)
    qtbot.waitUntil(lambda: _spo2_after(window, 0.0), timeout=WAIT_MS)
    opening = app_device.open_device

    def unplugged_meanwhile(spec: DeviceSpec, start_time: float | None = None) -> Any:
        cable.unplug()  # the adapter pulled out while the port was let go
        return opening(spec, start_time=start_time)

    monkeypatch.setattr(app_device, "open_device", unplugged_meanwhile)
    window.change_device(replace(started, port_overrides={"baudrate": 19200}))
    qtbot.waitUntil(lambda: window.device_opening is None, timeout=WAIT_MS)

    said = window.message.text()
    assert "could not be opened again either" in said and "link-lost alarm is on" in said
    qtbot.waitUntil(lambda: any(a.condition == "link_lost" for a in window.last_snapshot.active), timeout=WAIT_MS)
    assert window.last_status.link.state == "lost"


@pytest.fixture
def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_hl7_listener_takes_other_settings_on_the_address_it_listens_on(
    qtbot: Any, db_path: Path, free_tcp_port: int, live: Callable[[DeviceSpec], Any]
) -> None:
    started = DeviceSpec(driver="hl7-mllp", port=f"127.0.0.1:{free_tcp_port}")
    window = live(started)
    qtbot.waitUntil(lambda: window.last_status is not None, timeout=WAIT_MS)

    window.change_device(replace(started, settings={"idle_timeout": "60"}))
    qtbot.waitUntil(lambda: window.device_opening is None, timeout=WAIT_MS)

    assert window.message.text().startswith("Now reading "), window.message.text()
    assert window.device.settings == {"idle_timeout": "60"}
    assert window.bridge.recorder.source.settings.idle_timeout_s == 60.0
    [changed] = stored_events(db_path, "device_changed")
    assert changed.detail["settings"] == {"idle_timeout": "60"}
