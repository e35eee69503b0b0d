"""Fixtures for driving the real live window with the simulated monitor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan, parse_plan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.store import Store

NURSE = "AB"
#: How long a test waits for a live window's first status (the machine may be busy).
FIRST_STATUS_MS = 20_000


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
