"""The real window program frozen (SIGSTOP) and then killed (SIGKILL): its guard process alarms each time.

``infusion-monitor gui`` runs on the simulated monitor (offscreen). Stopped for 5 s, nothing in it can
run, not even its own watchdog: the guard, a second process, raises its alarm within 3-4.5 s of the
last beat and clears it when the program runs again; the program then records the spell on the
timeline. Killed, the program cannot say goodbye: the guard raises the lasting alarm.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from monitor.session import EventKind
from monitor.store import Store
from tests.conftest import NURSE_SECRET
from tests.faults.helpers import CommandLine


def test_a_frozen_then_killed_window_program_is_alarmed_by_its_guard(db_path: Path, accounts_in: Any) -> None:
    accounts_in(db_path)
    gui = CommandLine("gui", "--db", str(db_path), "--user", "RN", "--chair", "Chair 3", "--speed", "1",
                      env={"INFUSION_MONITOR_SECRET": NURSE_SECRET, "QT_QPA_PLATFORM": "offscreen"})
    guard_pid: int | None = None
    try:
        watching = gui.wait_for("guard: watching the window", timeout=60)
        found = re.search(r"pid (\d+)", watching)
        assert found is not None
        guard_pid = int(found.group(1))
        time.sleep(2.0)
        alarm, waited = gui.stopped("ALARM HIGH technical: MONITOR NOT RESPONDING", hold_s=5.0)
        assert alarm == ("\a  ALARM HIGH technical: MONITOR NOT RESPONDING at Chair 3: its screen has not updated "
                         "for 3 s - values on it are not current; watch the patient directly")
        assert 2.5 <= waited <= 4.5, waited  # the last beat came up to a quarter second before the stop
        gui.wait_for("guard: the window is responding again", timeout=10)
        time.sleep(3.0)  # the spell reaches the timeline and the disk
        gui.process.kill()
        gui.process.wait(10)
        stopped = gui.wait_for("MONITOR PROGRAM STOPPED", timeout=10)
        assert stopped == ("\a  ALARM HIGH technical: MONITOR PROGRAM STOPPED at Chair 3: recording and alarms have "
                           "ended - watch the patient directly and start the monitor again (the session can be "
                           "resumed)")
        time.sleep(1.0)
        os.kill(guard_pid, 0)  # still alarming, until a person acknowledges it
        os.kill(guard_pid, signal.SIGTERM)
        guard_pid = None
        gui.finish(timeout=20)
    finally:
        gui.end(guard_pid)
    with Store(db_path, readonly=True) as store:
        [session] = store.sessions()
        events = store.events(session.id)
        alarms = store.alarms(session.id)
    # The whole program stood still, its recorder too: the guard's alarm, not the recorder's.
    assert not [a for a in alarms if a.condition == "screen_not_responding"], alarms
    spells = [e for e in events
              if e.kind is EventKind.TECHNICAL and e.detail.get("condition") == "screen_not_responding"]
    assert len(spells) == 1, events
    held = re.search(r"did not run for ([\d.]+) s", spells[0].detail["detail"])
    assert held is not None and 4.5 <= float(held.group(1)) <= 7.0, spells[0].detail


def test_a_frozen_nurse_station_is_alarmed_by_its_guard(clinic: Any) -> None:
    station = CommandLine("station", "--server", clinic.role("reader"), env={"QT_QPA_PLATFORM": "offscreen"})
    try:
        station.wait_for("guard: watching the window", timeout=60)
        time.sleep(1.0)
        alarm, _ = station.stopped("ALARM HIGH technical")
        assert alarm == ("\a  ALARM HIGH technical: NURSE STATION NOT RESPONDING: its screen has not updated for 3 s - "
                         "the chairs' values and alarms on it are not current; watch the chairs' own screens")
        station.wait_for("guard: the window is responding again", timeout=10)
        station.wait_for("The station did not respond for", timeout=10)
        station.process.send_signal(signal.SIGTERM)
        assert station.finish(timeout=20) == 0
        assert "guard: the program ended normally" in station.output()
    finally:
        if station.process.poll() is None:
            station.kill()
