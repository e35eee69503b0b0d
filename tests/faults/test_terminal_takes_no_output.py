"""A terminal that takes no output never holds up ``record``, nor a window program.

``record`` printed from the recording's own loop: one Ctrl-S in its terminal (flow control) stopped the recording
and its alarms until Ctrl-Q, the last progress line on screen as if current ("the recording did not run for 5.1 s"
came after); a pipe or a remote terminal that stalls did the same. Now flow control is off while it runs, and its
lines are written by a thread of their own.

The window programs wrote their warnings to standard error from the thread that wrote them, the window's own among
them: standard error piped into something that stopped reading held the window (and the device's listener) at the
next warning. Now all they write there goes through writer threads too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from monitor.session import EventKind
from monitor.store import Store
from monitor.terminal_output import MAX_WAITING_LINES
from tests.conftest import NURSE_SECRET
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


def _full_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) already full, as one nobody has read for a while."""
    read_end, write_end = os.pipe()
    size = fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    os.set_blocking(write_end, False)
    filler = 0
    while True:
        try:
            filler += os.write(write_end, b"-" * 63 + b"\n")
        except BlockingIOError:
            break
    os.set_blocking(write_end, True)
    assert filler >= size - 64
    return read_end, write_end


def test_output_nobody_reads_does_not_hold_up_the_recording(db_path: Path) -> None:
    """Into a full pipe nobody reads for 15 s: the recording goes on, and what was held comes when the pipe is
    read, the skipped progress lines counted."""
    read_end, write_end = _full_pipe()  # full before the program starts
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


#: Messages the window's HL7 listener refuses while its standard error is full: each is a warning, more than wait.
REFUSED = MAX_WAITING_LINES + 2_000
_REFUSED_TYPE = re.compile(r"HL7 message answered AR: message type 'Z(\d{5})' is not ORU")


def _refuse(port: int, count: int) -> None:
    """Send ``count`` messages of types the listener refuses (Z00000, Z00001, ...), each after the answer to the
    one before; fails if an answer does not come (the listener waits for the terminal)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            break
        except OSError:
            assert time.monotonic() < deadline, "the window's listener never opened"
            time.sleep(0.2)
    with sock:
        for n in range(count):
            sock.sendall(b"\x0bMSH|^~\\&|GW|ICU|IM|CLINIC|20260101000000||Z%05d|C%d|P|2.6\r\x1c\r" % (n, n))
            answer = b""
            while not answer.endswith(b"\x1c\r"):
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    raise AssertionError(f"no answer to message {n} within 30 s") from None
                assert chunk, f"the listener hung up at message {n}"
                answer += chunk
            assert b"MSA|AR|" in answer, answer


def _refused_or(failed: list[BaseException], port: int) -> None:
    """:func:`_refuse` on a thread of the test's: what failed goes to ``failed``."""
    try:
        _refuse(port, REFUSED)
    except BaseException as exc:
        failed.append(exc)


def _closed(db_path: Path, session_id: str) -> bool:
    """Whether the session's end is in the database."""
    with Store(db_path, readonly=True) as store:
        return any(e.kind is EventKind.SESSION_CLOSED for e in store.events(session_id))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conditions(db_path: Path, session_id: str, condition: str) -> tuple[list[Any], list[Any]]:
    """The session's alarms and technical events of ``condition``."""
    with Store(db_path, readonly=True) as store:
        alarms = [a for a in store.alarms(session_id) if a.condition == condition]
        events = [e for e in store.events(session_id)
                  if e.kind is EventKind.TECHNICAL and e.detail.get("condition") == condition]
    return alarms, events


def test_standard_error_nobody_reads_does_not_hold_up_the_window(db_path: Path, accounts_in: Any) -> None:
    """The live window's standard error (and output) a full pipe nobody reads for at least 10 s while a gateway
    sends it messages it refuses, each a warning, more than can wait: every message is answered, the window goes on
    (its recorder, which hears from it four times a second, raises no "screen not responding"; on SIGTERM, with the
    pipe still full, it closes the session), and once the pipe is read the newest lines come in order after the
    count of those dropped."""
    accounts_in(db_path)
    port = _free_port()
    read_end, write_end = _full_pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "gui", "--db", str(db_path), "--user", "RN",
         "--driver", "hl7-mllp", "--port", f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL, stdout=write_end, stderr=write_end, cwd=REPO_ROOT,
        env=dict(os.environ, INFUSION_MONITOR_SECRET=NURSE_SECRET, QT_QPA_PLATFORM="offscreen"))
    os.close(write_end)
    got: list[str] = []
    try:
        deadline = time.monotonic() + 60
        sessions: list[Any] = []
        while not sessions and time.monotonic() < deadline:
            with contextlib.suppress(Exception), Store(db_path, readonly=True) as store:
                sessions = store.sessions()
            time.sleep(0.2)
        assert sessions, "the window did not begin its session"
        failed: list[BaseException] = []
        sender = threading.Thread(target=lambda: _refused_or(failed, port), daemon=True)
        sender.start()
        time.sleep(10.0)  # nothing read for 10 s, or for as long as the messages take
        sender.join(120)
        session_id = sessions[0].id
        assert _conditions(db_path, session_id, "screen_not_responding") == ([], [])
        # SIGTERM is handled on the window's thread, which closes the session: its end in the database shows that
        # thread ran with the pipe still full. The program then waits up to CLOSE_WAIT_S for what its writers hold.
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while not _closed(db_path, session_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        reader = threading.Thread(target=lambda: got.append(_read(read_end, 120)), daemon=True)
        reader.start()
        assert _closed(db_path, session_id), "the window did not close its session: its thread waits for the pipe"
        assert not sender.is_alive() and not failed, failed
        assert process.wait(60) == 0
        reader.join(130)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        os.close(read_end)
    [text] = got
    dropped = re.search(r"terminal: (\d+) older lines were dropped while this terminal took no output\n", text)
    assert dropped is not None, text[-3000:]
    seen = [int(n) for n in _REFUSED_TYPE.findall(text)]
    assert seen == sorted(set(seen)) and seen[-1] == REFUSED - 1, seen[-20:]
    assert len(seen) >= MAX_WAITING_LINES - 100
    assert int(dropped.group(1)) >= REFUSED - len(seen)
    assert _conditions(db_path, session_id, "screen_not_responding") == ([], [])
    assert _conditions(db_path, session_id, "recorder_not_running") == ([], [])
