"""Fixtures for driving the real live window with the simulated monitor."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base import Source
from drivers.simulated.driver import SimulatedDriver, SimulatedSource
from monitor.accounts import Principal
from monitor.alarms.engine import AlarmEngine
from monitor.app.device import DeviceSpec, OpenedDevice
from monitor.app.sessions import SessionSpec, start_session
from monitor.plan import SessionPlan, parse_plan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import abandon

NURSE = "AB"
#: How long a test waits for a live window's first status (the machine may be busy).
FIRST_STATUS_MS = 20_000


def crashed_on(db_path: Path, device: DeviceSpec) -> str:
    """A session recorded from ``device`` in ``db_path`` and left unfinished, as a killed process leaves it (its
    device let go); its id."""
    with Store(db_path) as store:
        rec = start_session(SessionSpec(device=device, nurse=NURSE), store, Principal(NURSE, "nurse"),
                            lambda _w: None)
        rec.step()
        rec.flush()
        sid, _last = abandon(rec, store)
        rec.source.close()
    return str(sid)


class LateDevice(Source):
    """A device that answers only once released; notes whether it was let go."""

    def __init__(self) -> None:
        super().__init__("late", "a late device")
        self.released = threading.Event()
        self.closed = threading.Event()

    def read(self, timeout: float) -> list[Any]:
        return []

    def now(self) -> float:
        return time.time()

    def close(self) -> None:
        self.closed.set()

    def open_when_released(self, spec: DeviceSpec, start_time: float | None = None) -> OpenedDevice:
        """Stands for :func:`~monitor.app.device.open_device`: this device, once released (never on the window's
        thread, where it would wait with the test)."""
        if threading.current_thread() is threading.main_thread():
            raise AssertionError("the device was opened on the window's thread")
        self.released.wait()
        return OpenedDevice(SimulatedDriver, self, spec)


@contextlib.contextmanager
def terminal_server() -> Iterator[tuple[str, Callable[[], None]]]:
    """A terminal server's TCP address (``socket://`` URL) that takes connections (the system completes them; nothing
    is ever read from them), and what makes it stop answering: its backlog filled, a connection then waits until it
    times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    waiting: list[socket.socket] = []

    def stop_answering() -> None:
        for _ in range(3):
            queued = socket.socket()
            queued.setblocking(False)
            with contextlib.suppress(BlockingIOError):  # it never connects: that is the point
                queued.connect(address)
            waiting.append(queued)

    try:
        yield f"socket://{address[0]}:{address[1]}", stop_answering
    finally:
        for queued in waiting:
            queued.close()
        listener.close()


@pytest.fixture(scope="session", autouse=True)
def _collector_on_the_gui_thread(gui_collector: Any) -> Any:
    """Every window test runs with the cycle collector where the programs run it (ui.collector)."""
    return gui_collector


@pytest.fixture
def make_window(qtbot: Any, db_path: Path) -> Iterator[Callable[..., Any]]:
    """Build a running live window on a simulated session; everything is closed after the test."""
    from monitor.app.device import DeviceSpec
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    opened: list[tuple[Any, Store]] = []

    def make(
        scenario: str = "normal",
        speed: float = 60.0,
        plan: str | None = None,
        role: str = "nurse",
        pleth: bool = False,
        alarms: bool = True,
        patient: str | None = None,
        first_status: bool = False,
        protocol: str | None = None,
    ) -> Any:
        """The window; with ``first_status`` only once it shows the recorder's first status."""
        store = Store(db_path)
        source = SimulatedSource(scenario=scenario, seed=3, speed=speed, pleth=pleth)
        patient_id = store.create_patient(patient) if patient else None
        recorder = Recorder.new_session(
            store, source, driver="simulated", port=None,
            plan=parse_plan(plan) if plan else SessionPlan(1, 40, 30),
            autopilot=plan is not None, nurse=NURSE, patient_id=patient_id, protocol=load_protocol(protocol),
            **({"alarms": AlarmEngine()} if alarms else {}),
        )
        bridge = RecorderBridge(recorder)
        window = LiveWindow(
            bridge, SignedInUser(NURSE, role),
            device=DeviceSpec(driver="simulated", scenario=scenario, speed=speed, pleth=pleth),
        )
        qtbot.addWidget(window)
        window.show()
        bridge.start()
        opened.append((window, store))
        if first_status:
            qtbot.waitUntil(lambda: window.last_status is not None, timeout=FIRST_STATUS_MS)
        return window

    yield make
    for window, store in opened:
        window.force_close()
        store.close()


@pytest.fixture
def chart(qtbot: Any) -> Any:
    """A shown trend chart at a desktop size, closed with the test."""
    from ui.trend_chart import TrendChart

    widget = TrendChart()
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    return widget


def stored_events(db_path: Path, kind: str) -> list[Any]:
    """Events of one kind in the (only) session, read through a connection of the test's own."""
    with Store(db_path, readonly=True) as reader:
        [summary] = reader.sessions()
        return [e for e in reader.events(summary.id) if e.kind.value == kind]
