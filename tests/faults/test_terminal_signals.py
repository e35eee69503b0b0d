"""The terminal cannot stop monitoring: Ctrl-Z (SIGTSTP) is refused by ``record`` and the window, and
closing the terminal (SIGHUP) does not end the window.

A suspended monitor would stop reading, recording and alarming while a terminal shows only "Stopped"
and a window its last values. Both real programs get SIGTSTP in the middle of a session, keep running
(their process state is never "T", stopped), and end cleanly afterwards; the window also outlives a
hang-up of its terminal.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from monitor.cli import SUSPEND_REFUSED
from tests.conftest import NURSE_SECRET
from tests.faults.helpers import CommandLine


def _state(pid: int) -> str:
    """The process's scheduling state letter from /proc (R, S, T for stopped, ...)."""
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def _readings(line: str) -> int:
    return int(line.split(": ")[1].split()[0])


def test_record_refuses_ctrl_z_and_goes_on_recording(db_path: Path) -> None:
    run = CommandLine("record", "--db", str(db_path), "--speed", "5", "--nurse", "RN")
    try:
        run.wait_for("[setup", timeout=60)
        run.process.send_signal(signal.SIGTSTP)
        assert run.wait_for("Ctrl-Z ignored", timeout=10) == SUSPEND_REFUSED
        time.sleep(1.0)
        assert _state(run.process.pid) != "T"
        lines_before = len(run.output())
        time.sleep(2.0)
        assert len(run.output()) > lines_before, "the progress lines go on"
        run.process.send_signal(signal.SIGINT)
        assert run.finish(timeout=30) == 0
    finally:
        if run.process.poll() is None:
            run.kill()
    assert _readings(run.wait_for("readings stored", timeout=1)) > 0


def test_the_window_refuses_ctrl_z_outlives_its_terminal_and_its_guard_stays_quiet(
    db_path: Path, accounts_in: Any
) -> None:
    accounts_in(db_path)
    gui = CommandLine("gui", "--db", str(db_path), "--user", "RN", "--speed", "1",
                      env={"INFUSION_MONITOR_SECRET": NURSE_SECRET, "QT_QPA_PLATFORM": "offscreen"})
    guard_pid: int | None = None
    try:
        guard_pid = int(gui.wait_for("guard: watching the window", timeout=60).split("pid ")[1].split(";")[0])
        gui.process.send_signal(signal.SIGTSTP)
        time.sleep(4.5)  # longer than the guard waits before it alarms
        assert _state(gui.process.pid) != "T"
        gui.process.send_signal(signal.SIGHUP)  # the terminal is closed
        time.sleep(4.5)
        assert gui.process.poll() is None and _state(gui.process.pid) != "T"
        assert not any("ALARM" in line for line in gui.output()), gui.output()
        gui.process.send_signal(signal.SIGTERM)
        assert gui.finish(timeout=30) == 0
        assert "guard: the program ended normally" in gui.output()
        guard_pid = None
    finally:
        gui.end(guard_pid)
