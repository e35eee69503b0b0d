"""A terminal that takes no output never holds up ``record``.

``record`` printed from the recording's own loop: one Ctrl-S in its terminal (flow control) stopped the recording
and its alarms until Ctrl-Q, the last progress line on screen as if current ("the recording did not run for 5.1 s"
came after); a pipe or a remote terminal that stalls did the same. Now flow control is off while it runs, and its
lines are written by a thread of their own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

from monitor.session import EventKind
from monitor.store import Store
from tests.faults.helpers import REPO_ROOT

_ELAPSED = re.compile(r"\] t\+(\d+):(\d\d) ")


def _read(fd: int, seconds: float) -> str:
    """What arrives on ``fd`` within ``seconds`` (until its end)."""
    got = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the pty's other side has closed
                break
            if not chunk:
                break
            got += chunk
    return got.decode("utf-8", "replace")


def _elapsed(text: str) -> list[int]:
    """The session times (s) of the progress lines in ``text``."""
    return [int(m) * 60 + int(s) for m, s in _ELAPSED.findall(text)]


@contextlib.contextmanager
def _record(db_path: Path, out: int, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """``record`` writing to ``out``; killed at the end if it still runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "record", "--db", str(db_path), "--speed", "1", "--nurse", "RN", *extra],
        stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=REPO_ROOT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _stalls(db_path: Path, text: str) -> list[dict[str, object]]:
    """The recording's own "did not run" events."""
    session = re.search(r"session ([0-9a-f]{32}) on ", text)
    assert session, text
    with Store(db_path) as store:
        return [dict(e.detail) for e in store.events(session.group(1))
                if e.kind is EventKind.TECHNICAL and e.detail.get("condition") == "recorder_not_running"]


def test_ctrl_s_in_the_terminal_does_not_stop_the_recording(db_path: Path) -> None:
    controller, terminal = os.openpty()
    attributes = termios.tcgetattr(terminal)
    attributes[0] |= termios.IXON  # flow control on, as a terminal has it
    termios.tcsetattr(terminal, termios.TCSANOW, attributes)
    with _record(db_path, terminal, "--duration", "25") as process:
        before = ""
        deadline = time.monotonic() + 60
        while not _elapsed(before) and time.monotonic() < deadline:
            before += _read(controller, 0.5)
        os.write(controller, b"\x13")  # Ctrl-S
        held = _read(controller, 6)
        assert len(_elapsed(held)) >= 4, f"no progress after Ctrl-S: {held!r}"
        flags = termios.tcgetattr(terminal)[0]
        assert not flags & termios.IXON, "flow control stays on while recording"
        rest = _read(controller, 60)
        assert process.wait(30) == 0, rest
    assert termios.tcgetattr(terminal)[0] & termios.IXON, "flow control was not put back at the end"
    assert "did not run" not in before + held + rest
    assert _stalls(db_path, before + held + rest) == []
    os.close(controller)
    os.close(terminal)


def test_output_nobody_reads_does_not_hold_up_the_recording(db_path: Path) -> None:
    """Into a full pipe nobody reads for 15 s: the recording goes on, and what was held comes when the pipe is
    read, the skipped progress lines counted."""
    read_end, write_end = os.pipe()
    size = fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    os.set_blocking(write_end, False)
    filler = 0
    while True:  # full before the program starts
        try:
            filler += os.write(write_end, b"-" * 63 + b"\n")
        except BlockingIOError:
            break
    os.set_blocking(write_end, True)
    assert filler >= size - 64
    with _record(db_path, write_end, "--duration", "25") as process:
        os.close(write_end)
        deadline = time.monotonic() + 60
        while not db_path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(12)  # the recording runs, its terminal full
        text = _read(read_end, 60)
        assert process.wait(30) == 0, text
    os.close(read_end)
    assert re.search(r"terminal: \d+ progress lines skipped while this terminal took no output", text), text
    times = _elapsed(text)
    assert times == sorted(times) and times[-1] >= 20, times
    assert min(times) >= 4, "the progress lines of the time the pipe was full were shown (not skipped)"
    assert "did not run" not in text
    assert _stalls(db_path, text) == []
