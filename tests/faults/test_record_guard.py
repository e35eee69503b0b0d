"""``record`` frozen (SIGSTOP), then killed (SIGKILL): its guard process says so in the terminal each time.

``record`` has no window, and its watchdog is a thread of its own process: stopped, nothing in it runs to say so,
and its last progress line reads as current. The guard, a second process writing to the same output, raises
the alarm 3 s after the last beat, repeats it with the bell every 10 s while it lasts, says when the recording
answers again, and raises the lasting alarm when the program ends without closing its session. A recording
that ends normally leaves no guard behind and no alarm.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.faults.helpers import CommandLine, until


def _guards_of(pid: int) -> list[int]:
    """The guard processes ``record`` (pid) started."""
    found = subprocess.run(["pgrep", "-P", str(pid), "-f", "monitor.terminal_guard"], capture_output=True,
                           text=True, check=False)
    return [int(word) for word in found.stdout.split()]


def _running(pid: int) -> bool:
    """Whether the process runs (an ended one its parent has not reaped yet is a zombie, "Z", and does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_stopped_then_killed_record_is_alarmed_by_its_guard(db_path: Path) -> None:
    run = CommandLine("record", "--db", str(db_path), "--speed", "1", "--nurse", "RN")
    guard_pid: int | None = None
    try:
        session = run.wait_for("session ", timeout=60).split()[1][:8]
        run.wait_for("[setup", timeout=60)
        [guard_pid] = _guards_of(run.process.pid)
        time.sleep(1.0)
        alarm, waited = run.stopped("RECORDING NOT RESPONDING", hold_s=14.5)  # past the repeat, 10 s after the first
        assert alarm == (f"\a  ALARM HIGH technical: RECORDING NOT RESPONDING (session {session}): no news from it "
                         "for 3 s - its values are not current and it raises no alarms; watch the patient directly")
        assert 2.5 <= waited <= 4.5, waited  # the last beat came up to half a second before the stop
        assert sum("RECORDING NOT RESPONDING" in line for line in run.output()) == 2  # again after 10 s, with the bell
        run.wait_for("guard: the recording is answering again", timeout=10)
        run.process.kill()
        run.process.wait(10)
        stopped = run.wait_for("RECORDING STOPPED", timeout=10)
        assert stopped == (f"\a  ALARM HIGH technical: RECORDING STOPPED (session {session}): the program ended "
                           "without closing its session - recording and alarms have ended; watch the patient "
                           f"directly and resume the session (infusion-monitor record --resume {session})")
        run.finish(timeout=20)  # the guard, holding the same output, has ended too
        ended = guard_pid
        until(lambda: not _running(ended), 10, "the guard's end after its alarm")
        guard_pid = None
    finally:
        run.end(guard_pid)


def test_a_record_that_ends_normally_leaves_no_guard_and_no_alarm(db_path: Path) -> None:
    run = CommandLine("record", "--db", str(db_path), "--speed", "1", "--nurse", "RN", "--duration", "6")
    try:
        run.wait_for("[setup", timeout=60)
        [guard_pid] = _guards_of(run.process.pid)
        assert run.finish(timeout=60) == 0
    finally:
        if run.process.poll() is None:
            run.kill()
    until(lambda: not _running(guard_pid), 10, "the guard's end after a recording that ended normally")
    assert not [line for line in run.output() if "ALARM" in line or "guard:" in line], run.output()
