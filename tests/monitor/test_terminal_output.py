"""The writers that stand between a program and a terminal that may take nothing (monitor/terminal_output.py).

The real programs are tested in tests/faults/test_terminal_takes_no_output.py; here the pieces the window programs
use, on a real pipe that is full until the test reads it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

import pytest

from monitor.terminal_output import TerminalOutput, unblocked_streams


@pytest.fixture
def full_pipe() -> Iterator[tuple[int, TextIO]]:
    """The read end of a full pipe, and a text stream on its write end."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    os.set_blocking(write_end, False)
    while True:
        try:
            os.write(write_end, b"-" * 63 + b"\n")
        except BlockingIOError:
            break
    os.set_blocking(write_end, True)
    stream = open(write_end, "w", encoding="utf-8", closefd=True)  # noqa: SIM115 (closed at the end)
    yield read_end, stream
    stream.close()
    os.close(read_end)


def _lines_after_filler(read_end: int, until: str) -> list[str]:
    """What arrives on ``read_end`` until a line holding ``until``, without the filler that was there first."""
    got = b""
    deadline = time.monotonic() + 30
    while until.encode() not in got and time.monotonic() < deadline:
        got += os.read(read_end, 65536)
    return [line for line in got.decode().splitlines() if not line.startswith("---")]


def test_a_printed_line_is_kept_or_dropped_whole(full_pipe: tuple[int, TextIO]) -> None:
    """``print`` writes a line's text and its end apart: while the terminal takes nothing they wait as one line,
    so the bound counts lines and a dropped line leaves no half behind."""
    read_end, stream = full_pipe
    writer = TerminalOutput(stream, max_lines=3, news="the test's lines", kept="")
    writer.write("first\n")
    deadline = time.monotonic() + 30
    while writer._waiting and time.monotonic() < deadline:  # taken by the writer, which waits for the pipe
        time.sleep(0.01)
    for n in range(6):
        print(f"line {n}", file=writer)
    lines = _lines_after_filler(read_end, "line 5")
    assert writer.close(10)
    assert lines == ["first", "  terminal: 3 older lines were dropped while this terminal took no output",
                     "line 3", "line 4", "line 5"]


def test_a_window_programs_output_and_log_wait_in_writers_of_their_own(
    full_pipe: tuple[int, TextIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Standard output and error, and the log's handler on standard error, go through writer threads while the
    block runs: ``print`` and a warning return at once into a full pipe, and come in order once it is read; the
    streams and the handler are put back after."""
    read_end, stream = full_pipe
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setattr(sys, "stderr", stream)
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    monkeypatch.setattr(root, "level", logging.WARNING)
    try:
        done = threading.Event()
        with unblocked_streams():
            assert isinstance(sys.stderr, TerminalOutput) and handler.stream is sys.stderr

            def write() -> None:
                for n in range(200):
                    print(f"printed {n}", file=sys.stderr)
                    logging.getLogger("test").warning("logged %d", n)
                done.set()

            threading.Thread(target=write, daemon=True).start()
            assert done.wait(30), "a write waited for the full pipe"
            lines = _lines_after_filler(read_end, "logged 199")
        assert sys.stderr is stream and sys.stdout is stream and handler.stream is stream
    finally:
        root.removeHandler(handler)
    assert lines == [text for n in range(200) for text in (f"printed {n}", f"logged {n}")]
