"""A conversation with a decoder written as (time, sent, received) exchanges, checked both ways.

At each exchange's time the decoder must send exactly ``sent`` (``b""``: nothing), then the device's
``received`` bytes arrive. A wrong or missing command fails at once, naming the exchange; an
exchange the test listed but never played fails when the ``with`` block ends, so a conversation
cannot pass by stopping early::

    with expected_protocol(decoder, [(T0, b" NA!2\\r", b" NA1109999000000000\\r"), ...]) as talk:
        talk.play()
    assert talk.readings == [...]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from drivers.base import Decoder
from drivers.core.readings import Reading


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the host must send at ``at``, and what the device answers ``reply_after_s`` later."""

    at: float
    sent: bytes
    received: bytes


class Conversation:
    """The exchanges still to play with one decoder, and the readings they produced."""

    def __init__(self, decoder: Decoder, exchanges: Iterable[tuple[float, bytes, bytes]], reply_after_s: float) -> None:
        self.decoder = decoder
        self.reply_after_s = reply_after_s
        self.pending: deque[Exchange] = deque(Exchange(*e) for e in exchanges)
        self.played = 0
        self.readings: list[Reading] = []

    def step(self) -> list[Reading]:
        """Play the next exchange; the readings its reply completed."""
        assert self.pending, f"exchange {self.played + 1} was asked for, but only {self.played} were listed"
        exchange = self.pending.popleft()
        self.played += 1
        sent = self.decoder.outgoing(exchange.at)
        assert sent == exchange.sent, (
            f"exchange {self.played} at t={exchange.at:g}: the host sent {sent!r}, expected {exchange.sent!r}"
        )
        found = self.decoder.feed(exchange.received, exchange.at + self.reply_after_s) if exchange.received else []
        self.readings.extend(found)
        return found

    def play(self, count: int | None = None) -> list[Reading]:
        """Play ``count`` exchanges (all that are left by default); the readings they completed."""
        found: list[Reading] = []
        for _ in range(len(self.pending) if count is None else count):
            found.extend(self.step())
        return found


@contextmanager
def expected_protocol(
    decoder: Decoder, exchanges: Iterable[tuple[float, bytes, bytes]], *, reply_after_s: float = 0.0
) -> Iterator[Conversation]:
    """A :class:`Conversation` that must be played to its end before the block closes."""
    talk = Conversation(decoder, exchanges, reply_after_s)
    yield talk
    unused = [f"t={e.at:g} sent={e.sent!r} received={e.received!r}" for e in talk.pending]
    assert not unused, f"{len(unused)} listed exchange(s) never played: " + "; ".join(unused)
