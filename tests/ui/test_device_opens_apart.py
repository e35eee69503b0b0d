"""A device chosen in the live window is opened on a thread of its own: the window goes on showing and sounding the
running device while the new one takes its time to answer (a terminal server that does not answer held the window
for pyserial's 5 s, with a high SpO2 alarm neither drawn nor sounded and the values looking current)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QTimer

from monitor.alarms.model import Priority
from monitor.app.device import DeviceSpec, OpenedDevice
from monitor.app.errors import AppError
from tests.ui.conftest import LateDevice, terminal_server

WAIT_MS = 60_000
#: Where the device that never answers is said to be (the fake opener below stands for it).
SILENT_PORT = "socket://10.0.4.99:4001"


class UnansweredOpen:
    """Stands for opening a device that does not answer: it waits until released, then is refused."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.released = threading.Event()
        self.answered = threading.Event()
        self.on_window_thread = False

    def __call__(self, spec: DeviceSpec, start_time: float | None = None) -> OpenedDevice:
        self.asked.set()
        if threading.current_thread() is threading.main_thread():
            # The window's own thread would wait here with it: say so at once rather than hold the test.
            self.on_window_thread = True
            raise AssertionError("the device was opened on the window's thread")
        self.released.wait()
        self.answered.set()
        raise AppError(f"cannot open {spec.driver}: could not open port {spec.port}: timed out")


def _high_spo2_shown(window: Any) -> bool:
    return any(row.isVisible() and row.priority is Priority.HIGH and "SpO2" in row.text()
               for row in window.alarm_bar.rows)


def test_a_device_that_does_not_answer_holds_neither_the_window_nor_its_alarms(
    qtbot: Any, make_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_window(scenario="desaturation", speed=120.0, plan="baseline:1,infusion:40,recovery:30",
                    first_status=True)
    running = w.bridge.recorder.source
    opening = UnansweredOpen()
    monkeypatch.setattr("monitor.app.device.open_device", opening)
    ticks: list[int] = []
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: ticks.append(1))
    heartbeat.start(10)
    try:
        alarm_before = _high_spo2_shown(w)
        w.change_device(DeviceSpec(driver="masimo-ascii", port=SILENT_PORT))
        assert not opening.on_window_thread
        assert not opening.answered.is_set()  # back before the device answered
        assert w.message.isVisible() and w.message.text().startswith(f"Opening masimo-ascii on {SILENT_PORT}…")
        qtbot.waitUntil(opening.asked.is_set, timeout=WAIT_MS)

        # While it opens, the window's thread runs: its timers tick and the alarm that starts reaches the bar.
        counted = len(ticks)
        qtbot.waitUntil(lambda: len(ticks) >= counted + 20, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: _high_spo2_shown(w), timeout=WAIT_MS)
        assert not alarm_before, "the alarm had started before the device change: it must start meanwhile"
        assert w.spo2_tile.alarm_priority is Priority.HIGH
        assert not opening.answered.is_set()

        # One change at a time: a second one meanwhile is refused, naming the device being opened.
        w.change_device(DeviceSpec(driver="nonin", port="/dev/ttyUSB9"))
        assert w.message.text().startswith(f"Still opening masimo-ascii on {SILENT_PORT}")
    finally:
        opening.released.set()
        heartbeat.stop()

    # Refused when it finally answers, as before; the running device and its session carry on.
    qtbot.waitUntil(lambda: "cannot use masimo-ascii" in w.message.text(), timeout=WAIT_MS)
    assert "timed out" in w.message.text()
    assert w.device_opening is None
    assert w.device.driver == "simulated" and w.bridge.recorder.source is running
    stored = w.last_status.stored_readings
    qtbot.waitUntil(lambda: w.last_status.stored_readings > stored, timeout=WAIT_MS)


@pytest.fixture
def silent_terminal_server() -> Iterator[str]:
    """A TCP address that takes no connection: it listens, its backlog is full, it never accepts."""
    with terminal_server() as (url, stop_answering):
        stop_answering()
        yield url


def test_a_terminal_server_that_does_not_answer_is_refused_later_and_the_running_device_carries_on(
    qtbot: Any, make_window: Any, silent_terminal_server: str
) -> None:
    w = make_window(speed=60.0, first_status=True)
    running = w.bridge.recorder.source
    w.change_device(DeviceSpec(driver="masimo-ascii", port=silent_terminal_server))
    assert w.message.text().startswith("Opening masimo-ascii")
    assert "simulated goes on recording" in w.message.text()
    # pyserial gives up after its own 5 s.
    qtbot.waitUntil(lambda: "cannot use masimo-ascii" in w.message.text(), timeout=WAIT_MS)
    assert w.bridge.recorder.source is running and w.device.driver == "simulated"
    stored = w.last_status.stored_readings
    qtbot.waitUntil(lambda: w.last_status.stored_readings > stored, timeout=WAIT_MS)


def test_a_device_that_opens_is_used_and_said_so(qtbot: Any, make_window: Any) -> None:
    w = make_window(speed=60.0, first_status=True)
    w.change_device(DeviceSpec(driver="simulated", scenario="hypertension", speed=60.0))
    qtbot.waitUntil(lambda: w.device.scenario == "hypertension", timeout=WAIT_MS)
    assert w.message.text().startswith("Now reading ")
    assert "hypertension" in w.last_status.device and w.device_opening is None


def test_a_device_that_opens_after_its_window_closed_is_let_go(
    qtbot: Any, make_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_window(speed=60.0, first_status=True)
    device = LateDevice()
    monkeypatch.setattr("monitor.app.device.open_device", device.open_when_released)
    w.change_device(DeviceSpec(driver="simulated", scenario="hypertension"))
    w.force_close()
    device.released.set()
    qtbot.waitUntil(device.closed.is_set, timeout=WAIT_MS)
