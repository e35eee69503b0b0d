"""A device whose bytes arrive but cannot be read: the wrong driver, baud rate or parity.

The link is up and bytes come in, yet not one frame decodes: the header says "link connected", the numerics show
dashes, and, for a device that never gave a value, no "no value" alarm can start (those are judged for values once
seen). :class:`UnreadableWatch` judges it from the link's counters, pure: bytes in and frames decoded, at moments of
session time, in; whether the condition starts or ends out. The recorder raises a technical alarm for it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: How long bytes may arrive without one frame decoding before it is a condition: longer than any device takes to
#: start talking properly (an IntelliVue's association, a DINAMAP's first answer to a poll).
UNREADABLE_AFTER_S = 30.0


@dataclass(slots=True)
class UnreadableWatch:
    """Whether a device's bytes have been unreadable for :attr:`after_s`."""

    after_s: float = UNREADABLE_AFTER_S
    #: The condition holds now.
    unreadable: bool = False
    _bytes: int = 0
    _decoded: int = 0
    #: When a frame was last read (or the watch, or the source, began): unread bytes count from there.
    _read_at: float | None = None
    #: Since when the bytes arriving have been unread (None: the last ones were read).
    _since: float | None = None

    def judge(self, now: float, bytes_in: int, decoded: int) -> bool | None:
        """Take the counters at ``now``: True when the condition starts, False when it ends, None otherwise."""
        if self._read_at is None or bytes_in < self._bytes or decoded < self._decoded:
            # The first look, or another source (the device was changed): counted afresh from now.
            self._bytes, self._decoded, self._since, self._read_at = bytes_in, decoded, None, now
            return self._now(False)
        change = None
        if decoded > self._decoded:
            self._since, self._read_at = None, now
            change = self._now(False)
        elif bytes_in > self._bytes:
            if self._since is None:
                self._since = self._read_at
            if now - self._since >= self.after_s:
                change = self._now(True)
        self._bytes, self._decoded = bytes_in, decoded
        return change

    def _now(self, unreadable: bool) -> bool | None:
        if unreadable == self.unreadable:
            return None
        self.unreadable = unreadable
        return unreadable
