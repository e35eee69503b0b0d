"""Pieces shared by the decoders: splitting a byte stream into lines, and counting resynchronisations."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Final

from drivers.base import Decoder, DecoderCounters
from drivers.core.readings import Reading


class FrameRejected(ValueError):
    """Bytes framed as a record that are no valid record (a bad field, an impossible value)."""


class SyncTracker:
    """Counts good and rejected frames, and a resynchronisation on each return to good frames."""

    def __init__(self, counters: DecoderCounters) -> None:
        self.counters = counters
        self.in_sync = True

    def good(self) -> None:
        """A frame decoded."""
        self.counters.frames_decoded += 1
        if not self.in_sync:
            self.counters.resyncs += 1
            self.in_sync = True

    def bad(self) -> None:
        """A frame (or a run of bytes that is no frame) rejected."""
        self.counters.frames_rejected += 1
        self.in_sync = False

    def judged(self, decode: Callable[[], list[Reading]]) -> list[Reading]:
        """What ``decode`` reads from one frame, counted good; nothing, counted rejected, if it raises FrameRejected."""
        try:
            readings = decode()
        except FrameRejected:
            self.bad()
            return []
        self.good()
        return readings


#: While bytes that are no frames keep arriving, one more rejection is counted each this many seconds.
JUNK_COUNT_EVERY_S: Final = 1.0


class JunkRun:
    """A run of bytes skipped as no frame: one rejection when it begins, and one more each second it lasts.

    The one rule of every decoder that skips bytes: a device set to another format, baud rate or parity
    sends nothing but junk, and ``bad`` must then climb, not stop at one.
    """

    def __init__(self) -> None:
        self.skipping = False
        self._counted_at = float("-inf")

    def skipped(self, at: float) -> bool:
        """Bytes received at ``at`` were skipped; True when that counts as one more rejection."""
        count = not self.skipping or at - self._counted_at >= JUNK_COUNT_EVERY_S
        if count:
            self._counted_at = at
        self.skipping = True
        return count

    def end(self) -> None:
        """A frame was found: the next skipped bytes begin a new run."""
        self.skipping = False


class LineFramer:
    """Cuts a byte stream into lines ending in LF (a CR before it is dropped).

    A line longer than ``max_len`` cannot be a record: its bytes up to the next LF are thrown away,
    and it is returned as ``None`` for the caller to count, by the rule of :class:`JunkRun` (an LF
    may never come when the bytes are not the device's lines at all).
    """

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len
        self._buf = bytearray()
        self._junk = JunkRun()

    def reset(self) -> None:
        """Forget a partial line."""
        self._buf.clear()
        self._junk.end()

    def feed(self, data: bytes, at: float) -> list[bytes | None]:
        """Complete lines (without CR LF) received at ``at``, in order; ``None`` for each over-long one counted."""
        out: list[bytes | None] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self._junk.skipping:
                self._buf += piece
                if len(self._buf) > self.max_len:
                    self._buf.clear()
                    self._junk.skipped(at)
                    out.append(None)
            elif piece and self._junk.skipped(at):
                out.append(None)
            if end < 0:
                return out
            if not self._junk.skipping:
                line = bytes(self._buf)
                out.append(line[:-1] if line.endswith(b"\r") else line)
            self._buf.clear()
            self._junk.end()
            start = end + 1


class LineDecoder(Decoder):
    """A decoder for a device that prints one record a line (the ASCII oximeter outputs).

    Lines are cut by :class:`LineFramer`; an over-long line is counted as rejected. Each complete
    line goes to :meth:`read_line`, which counts its own verdict through ``self.sync``.
    """

    def __init__(self, source: str, max_line: int) -> None:
        super().__init__(source)
        self.lines = LineFramer(max_line)
        self.sync = SyncTracker(self.counters)

    def reset(self) -> None:
        """Forget a partial line (after a reconnect)."""
        self.lines.reset()

    def feed(self, data: bytes, at: float) -> list[Reading]:
        """Readings from every line completed by ``data``."""
        out: list[Reading] = []
        for line in self.lines.feed(data, at):
            if line is None:
                self.sync.bad()
                continue
            out.extend(self.read_line(line, at))
        return out

    @abstractmethod
    def read_line(self, line: bytes, at: float) -> list[Reading]:
        """Readings of one complete line (without its CR LF), received at ``at``."""
