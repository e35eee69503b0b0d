"""Mid-session the nurse moves the chair from the simulated monitor to an oximeter on a cable, then the cable
goes (the emulator on the pseudo-terminal is killed): she is told at once, and no value looks current."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from drivers.core.readings import Parameter
from monitor.app.device import DeviceSpec
from monitor.app.services import ServiceSpec
from monitor.app.sessions import SessionSpec
from monitor.store import Store
from tests.conftest import REPO_ROOT
from ui.dialogs import SignedInUser

WAIT_MS = 30_000
pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX pseudo-terminals")


def _emulator(protocol: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "emulate", "--protocol", protocol, "--port", "pty", "--duration", "300"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r" on (/dev/\S+) ", line)
    assert found is not None, line
    return process, found.group(1)


def _fresh(window: Any, parameter: Parameter, after: float) -> bool:
    status = window.last_status
    return status is not None and any(
        r.parameter is parameter and r.value is not None and r.t > after for r in status.latest)


def test_unplugging_the_new_device_is_told_at_once_and_values_grey(qtbot: Any, db_path: Path, tmp_path: Path) -> None:
    from ui.app import start_live

    process, pty = _emulator("masimo-ascii")
    # The window reaches the pty through a name that goes with the cable, as an adapter's does: the pty's own
    # number is free once the emulator dies, and the window's link, reconnecting, would open the next pty made
    # on this computer under it (another test's) and lock it.
    cable = tmp_path / "ttyOXIMETER"
    cable.symlink_to(pty)
    store = Store(db_path)
    run = start_live(SessionSpec(device=DeviceSpec(driver="simulated", speed=1.0), nurse="RN"), ServiceSpec(),
                     SignedInUser("RN", "nurse"), store)
    window = run.window
    qtbot.addWidget(window)
    timeline: dict[str, float] = {}
    try:
        qtbot.waitUntil(lambda: _fresh(window, Parameter.SPO2, 0.0), timeout=WAIT_MS)
        window.start_baseline()
        switched = time.time()
        window.change_device(DeviceSpec(driver="masimo-ascii", port=str(cable)))
        qtbot.waitUntil(lambda: window.device.driver == "masimo-ascii", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: _fresh(window, Parameter.SPO2, switched + 1), timeout=WAIT_MS)
        qtbot.wait(3_000)
        assert window.spo2_tile.state == "ok", window.spo2_tile.state
        cable.unlink()
        process.send_signal(signal.SIGKILL)
        process.wait()
        pulled = time.monotonic()
        deadline = pulled + 20
        while time.monotonic() < deadline and len(timeline) < 4:
            qtbot.wait(100)
            at = round(time.monotonic() - pulled, 1)
            if "link connected" not in window.header.link.text():
                timeline.setdefault("header", at)
            if window.spo2_tile.state != "ok":
                timeline.setdefault("spo2 tile " + window.spo2_tile.state, at)
            if window.hr_tile.state != "ok":
                timeline.setdefault("hr tile " + window.hr_tile.state, at)
            if any("link" in a.condition or "lost" in a.condition or "no_data" in a.condition
                   for a in (window.last_snapshot.active if window.last_snapshot else ())):
                timeline.setdefault("alarm", at)
    finally:
        run.shutdown()
        store.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    # Told at once: the header and the alarm bar (measured 0.1 s).
    assert timeline.get("header", 99) <= 5.5 and timeline.get("alarm", 99) <= 6, timeline
    # Once the monitor itself says the link is lost, the last SpO2 is known not to be current: it must not go
    # on looking like a live value (full colour, no mark) while the header says "link lost".
    greyed = min((v for k, v in timeline.items() if k.startswith("spo2 tile")), default=99.0)
    assert greyed <= timeline["header"] + 1.5, (
        f"link lost shown at {timeline['header']} s, SpO2 still drawn as current until {greyed} s: {timeline}")
