"""The exchange helper fails on a wrong command, on an extra step and on exchanges left unplayed."""

from __future__ import annotations

import pytest

from drivers.base import Decoder
from drivers.core.readings import Parameter, Reading
from tests.drivers.exchange import expected_protocol


class _Poller(Decoder):
    """Sends ``?`` once a second; a reply ``nn`` is a pulse rate."""

    def __init__(self) -> None:
        super().__init__("poller")
        self.next_poll = 0.0

    def outgoing(self, at: float) -> bytes:
        if at < self.next_poll:
            return b""
        self.next_poll = at + 1.0
        return b"?"

    def feed(self, data: bytes, at: float) -> list[Reading]:
        return [Reading(at, Parameter.PR, float(data), "poller")]


def test_a_full_conversation_passes_and_collects_readings() -> None:
    with expected_protocol(_Poller(), [(0.0, b"?", b"60"), (0.5, b"", b""), (1.0, b"?", b"61")],
                           reply_after_s=0.1) as talk:
        talk.play()
    assert [(r.t, r.value) for r in talk.readings] == [(0.1, 60.0), (1.1, 61.0)]


def test_a_wrong_command_fails_naming_the_exchange() -> None:
    with pytest.raises(AssertionError, match=r"exchange 2 at t=0.5: the host sent b'', expected b'\?'"), \
            expected_protocol(_Poller(), [(0.0, b"?", b"60"), (0.5, b"?", b"61")]) as talk:
        talk.play()


def test_an_exchange_left_unplayed_fails_when_the_block_ends() -> None:
    with pytest.raises(AssertionError, match=r"1 listed exchange\(s\) never played: t=1 sent=b'\?'"), \
            expected_protocol(_Poller(), [(0.0, b"?", b"60"), (1.0, b"?", b"61")]) as talk:
        talk.step()


def test_a_step_beyond_the_list_fails() -> None:
    with pytest.raises(AssertionError, match="only 1 were listed"), \
            expected_protocol(_Poller(), [(0.0, b"?", b"60")]) as talk:
        talk.play(2)
