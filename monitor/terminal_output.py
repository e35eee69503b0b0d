"""A terminal that stops taking output never holds up monitoring.

Writing to a terminal blocks while the terminal takes nothing: after Ctrl-S (the terminal's flow control, XOFF,
pressed by mistake or meant as a save), over a remote session that stalls, or into a pipe nobody reads. ``record``
printed from the recording's own loop, so one Ctrl-S stopped the recording and its alarms until Ctrl-Q, with the
last progress line on screen as if current (and its guard, writing to the same terminal, was held as well).

Two remedies, used together:

- :func:`flow_control_off` turns the terminal's output flow control (IXON) off while the program runs, so Ctrl-S
  no longer stops its output (restored when the program ends; the window programs use it too, whose warnings go to
  the terminal that started them);
- :class:`TerminalOutput` writes on a thread of its own: the recording hands it lines and goes on. While the
  terminal takes nothing, the lines wait (alarm and event lines all kept, up to :data:`MAX_WAITING_LINES`; of the
  progress lines only the newest, as each replaces the one before) and are written, with a count of what was
  skipped, once it takes output again.

``record`` uses both through :func:`unblocked_terminal`. The window programs write to the terminal only their
warnings and errors, but did so from the window's thread: a terminal or a pipe that took nothing held the window,
which stopped drawing, flashing and sounding while it looked as usual. :func:`unblocked_streams` sends all they
write to standard output and error (the log's lines among it) through writers of their own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TextIO, cast

log = logging.getLogger(__name__)

#: Lines kept while the terminal takes nothing (a day of alarm changes and events; progress lines do not add up).
MAX_WAITING_LINES = 10_000
#: How long the end of a recording waits for a terminal that takes nothing.
CLOSE_WAIT_S = 5.0


class Lines(Protocol):
    """Where a program's lines go: a stream, or a :class:`TerminalOutput`."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


def flow_control_off(fds: tuple[int, ...] = (0, 1, 2)) -> Callable[[], None]:
    """Turn output flow control off on every terminal among ``fds`` that has it on; returns what puts it back.

    The setting belongs to the terminal, not the process: whatever else writes there (the guard) is freed too.
    """
    restore: list[tuple[int, list[Any]]] = []
    seen: set[int] = set()
    for fd in fds:
        try:
            if not os.isatty(fd):
                continue
            device = os.fstat(fd).st_rdev
            if device in seen:
                continue
            seen.add(device)
            attributes = termios.tcgetattr(fd)
            if not attributes[0] & termios.IXON:
                continue
            changed = list(attributes)
            changed[0] = attributes[0] & ~termios.IXON
            termios.tcsetattr(fd, termios.TCSANOW, changed)
            restore.append((fd, attributes))
        except (OSError, termios.error) as exc:  # not ours to change (another user's terminal): leave it
            log.debug("terminal flow control left as it is on fd %d: %s", fd, exc)

    def put_back() -> None:
        for fd, attributes in restore:
            with contextlib.suppress(OSError, termios.error):
                termios.tcsetattr(fd, termios.TCSANOW, attributes)
        restore.clear()

    return put_back


#: What the count of dropped lines adds for ``record``: nothing of the session is lost with them.
RECORD_KEEPS = " (the session's record keeps every alarm and event)"


class TerminalOutput:
    """Lines for ``stream``, written on a thread of its own; :meth:`write` never waits for the terminal.

    It can stand where ``sys.stdout`` or ``sys.stderr`` stood (:func:`unblocked_streams`); ``news`` names what it
    writes in the warning that the terminal is gone, ``kept`` adds to the count of dropped lines what keeps them.
    """

    def __init__(self, stream: TextIO, max_lines: int = MAX_WAITING_LINES, *, news: str = "the recording's news",
                 kept: str = RECORD_KEEPS) -> None:
        self.stream = stream
        self.max_lines = max_lines
        self.news = news
        self.kept = kept
        self._waiting: list[tuple[bool, str]] = []  # (is a progress line, text)
        self._skipped_progress = 0
        self._lost = 0
        self._closing = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="terminal-output", daemon=True)
        self._thread.start()

    def write(self, text: str) -> int:
        """Queue ``text`` (alarm, event and message lines: each kept)."""
        if text:
            self._add(False, text)
        return len(text)

    def write_progress(self, text: str) -> None:
        """Queue a progress line: it replaces a progress line still waiting (only the newest is worth showing)."""
        self._add(True, text)

    def flush(self) -> None:
        """Nothing to do: the writer flushes after each batch (kept so this stands where a stream did)."""

    @property
    def encoding(self) -> str:
        """The stream's (what ``print`` and the log may ask of a standard stream)."""
        return getattr(self.stream, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        """Whether the stream is a terminal."""
        try:
            return self.stream.isatty()
        except (OSError, ValueError, AttributeError):
            return False

    def fileno(self) -> int:
        """The stream's file (for a child process that shares it; what is written here goes through the thread)."""
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    def close(self, wait_s: float = CLOSE_WAIT_S) -> bool:
        """Write what waits (for up to ``wait_s``) and stop; whether everything was written."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join(wait_s)
        return not self._thread.is_alive()

    def _add(self, progress: bool, text: str) -> None:
        with self._condition:
            if not progress and self._waiting and not self._waiting[-1][0] and not self._waiting[-1][1].endswith("\n"):
                # The rest of a line (``print`` writes its text and its end apart): one line, kept or dropped whole.
                self._waiting[-1] = (False, self._waiting[-1][1] + text)
                self._condition.notify()
                return
            if progress:
                before = len(self._waiting)
                self._waiting = [item for item in self._waiting if not item[0]]
                self._skipped_progress += before - len(self._waiting)
            self._waiting.append((progress, text))
            if len(self._waiting) > self.max_lines:
                self._lost += len(self._waiting) - self.max_lines
                del self._waiting[: len(self._waiting) - self.max_lines]
            self._condition.notify()

    def _take(self) -> tuple[list[str], bool]:
        """The waiting lines with a word on what was skipped, and whether to stop after them."""
        with self._condition:
            while not self._waiting and not self._closing:
                self._condition.wait()
            texts = [text for _, text in self._waiting]
            notes = []
            if self._lost:
                notes.append(f"  terminal: {self._lost} older lines were dropped while this terminal took no "
                             f"output{self.kept}\n")
            if self._skipped_progress:
                notes.append(f"  terminal: {self._skipped_progress} progress lines skipped while this terminal "
                             "took no output (the recording went on)\n")
            self._waiting, self._lost, self._skipped_progress = [], 0, 0
            return notes + texts, self._closing

    def _write(self, text: str) -> None:
        """To the stream's file itself where it has one: a write held by the terminal then holds no lock of the
        stream's, which the interpreter takes at exit (it would abort, or wait for ever, on a held one)."""
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError, AttributeError):
            self.stream.write(text)
            self.stream.flush()
            return
        self.stream.flush()  # anything written to the stream by other means goes first
        data = text.encode(getattr(self.stream, "encoding", None) or "utf-8", "replace")
        while data:
            data = data[os.write(fd, data):]

    def _run(self) -> None:
        failed_at = float("-inf")
        while True:
            texts, closing = self._take()
            if texts:
                try:
                    self._write("".join(texts))
                except (OSError, ValueError) as exc:  # a terminal gone: said in the log, at most once a minute
                    if time.monotonic() - failed_at >= 60.0:
                        failed_at = time.monotonic()
                        log.warning("%s cannot be printed: %s", self.news, exc)
            if closing:
                with self._condition:
                    if not self._waiting:
                        return


@contextlib.contextmanager
def unblocked_terminal(out: TextIO) -> Iterator[TerminalOutput]:
    """For a program that monitors from a terminal: flow control off, its lines for ``out`` and the log's lines
    for standard error each written by a thread of their own; all put back at the end."""
    put_back = flow_control_off()
    lines = TerminalOutput(out)
    try:
        with _errors_apart(standard=False):
            yield lines
    finally:
        # A terminal that still takes nothing after CLOSE_WAIT_S is left behind (there is no one to tell there).
        lines.close()
        put_back()


#: What the window programs' writers are called in the warning that their terminal is gone.
WINDOW_NEWS = "the window program's messages"


@contextlib.contextmanager
def unblocked_streams() -> Iterator[None]:
    """For a window program: all it writes to standard output and error (``print``, the log's lines, warnings)
    written by a thread for each, so that no thread of it waits for the terminal; put back at the end, after
    waiting up to :data:`CLOSE_WAIT_S` for each to write what waits."""
    stdout = sys.stdout
    lines = None if stdout is None else TerminalOutput(stdout, news=WINDOW_NEWS, kept="")
    if lines is not None:
        sys.stdout = cast(TextIO, lines)
    try:
        with _errors_apart(standard=True):
            yield
    finally:
        if lines is not None:
            sys.stdout = stdout
            lines.close()


@contextlib.contextmanager
def _errors_apart(standard: bool) -> Iterator[None]:
    """The log's lines for standard error written by a thread of their own, and with ``standard`` whatever else is
    written to ``sys.stderr`` too; put back at the end (after up to :data:`CLOSE_WAIT_S` for what waits)."""
    stderr = sys.stderr
    if stderr is None:  # no standard error at all (started without one): nothing can wait for it
        yield
        return
    errors = TerminalOutput(stderr, news=WINDOW_NEWS, kept="") if standard else TerminalOutput(stderr)
    handlers = [handler for handler in logging.getLogger().handlers
                if isinstance(handler, logging.StreamHandler) and handler.stream is stderr]
    for handler in handlers:
        handler.setStream(errors)
    if standard:
        sys.stderr = cast(TextIO, errors)
    try:
        yield
    finally:
        if standard:
            sys.stderr = stderr
        for handler in handlers:
            handler.setStream(stderr)
        # A terminal that still takes nothing after CLOSE_WAIT_S is left behind (there is no one to tell there).
        errors.close()
