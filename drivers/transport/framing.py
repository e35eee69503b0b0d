"""Pieces shared by the decoders: splitting a byte stream into lines, and counting resynchronisations."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

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


class LineFramer:
    """Cuts a byte stream into lines ending in LF (a CR before it is dropped).

    A line longer than ``max_len`` cannot be a record: it is returned as ``None`` once (so the
    caller can count it) and the bytes up to the next LF are thrown away.
    """

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len
        self._buf = bytearray()
        self._overflow = False

    def reset(self) -> None:
        """Forget a partial line."""
        self._buf.clear()
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Complete lines (without CR LF) in the order received; ``None`` for each over-long one."""
        out: list[bytes | None] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self._overflow:
                self._buf += piece
                if len(self._buf) > self.max_len:
                    self._buf.clear()
                    self._overflow = True
                    out.append(None)
            if end < 0:
                return out
            if not self._overflow:
                line = bytes(self._buf)
                out.append(line[:-1] if line.endswith(b"\r") else line)
            self._buf.clear()
            self._overflow = False
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
        for line in self.lines.feed(data):
            if line is None:
                self.sync.bad()
                continue
            out.extend(self.read_line(line, at))
        return out

    @abstractmethod
    def read_line(self, line: bytes, at: float) -> list[Reading]:
        """Readings of one complete line (without its CR LF), received at ``at``."""
