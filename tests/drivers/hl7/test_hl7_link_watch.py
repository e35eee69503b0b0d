"""The HL7 link is judged by its messages: a sender that connects for each message is not a lost link.

The watch is given every time; the end-to-end test drives the real listener with a sender that
opens a connection per message, on a clock the test sets (no waiting).
"""

from __future__ import annotations

import socket
import time

import pytest

from drivers.base import LinkEventKind, OpenOptions
from drivers.hl7.driver import Hl7MllpDriver
from drivers.hl7.link_watch import FIRST_INTERVAL_S, MessageLinkWatch
from drivers.hl7.listener import Hl7MllpSource, Hl7Settings
from drivers.hl7.sender import oru_message
from drivers.patient.vitals import Vitals
from drivers.transport.mllp import frame
from tests.drivers.sockets import mllp_answer

T0 = 1_700_000_000.0


def lost(silence: float, interval: float, allowed: float) -> str:
    return (
        f"no HL7 message for {silence:.0f} s (the sender's usual interval is {interval:.3g} s; "
        f"the link is judged lost after {allowed:.3g} s)"
    )


def fed(times: list[float]) -> MessageLinkWatch:
    """A watch (link_lost_after 5 s) that has seen messages at ``times``, none of them restoring the link."""
    watch = MessageLinkWatch(link_lost_after_s=5.0)
    assert [watch.message(t) for t in times] == [False] * len(times)
    return watch


def test_a_message_every_10_s_for_100_s_is_never_a_lost_link() -> None:
    watch = MessageLinkWatch(link_lost_after_s=5.0)
    for n in range(10):
        assert watch.message(10.0 * n) is False
        # The recorder asks every turn; every moment between two messages is "up".
        assert [watch.check(10.0 * n + dt) for dt in (0.5, 5.0, 9.9)] == ["", "", ""]
    assert (watch.usual_interval_s(), watch.allowed_silence_s()) == (10.0, 25.0)
    assert watch.check(90.0 + 24.9) == ""
    assert watch.check(90.0 + 25.0) == lost(25, 10, 25)
    assert watch.check(90.0 + 60.0) == ""  # said once
    assert watch.message(200.0) is True
    # The outage's gap (110 s) is not the sender's interval.
    assert watch.allowed_silence_s() == 25.0
    assert (watch.check(224.9), watch.check(225.0)) == ("", lost(25, 10, 25))


def test_a_fast_sender_is_judged_by_link_lost_after() -> None:
    watch = fed([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert watch.allowed_silence_s() == 5.0
    assert (watch.check(9.99), watch.check(10.0)) == ("", lost(5, 1, 5))


def test_before_two_messages_a_minute_is_assumed_and_before_one_nothing_is_judged() -> None:
    watch = MessageLinkWatch(link_lost_after_s=5.0)
    assert watch.check(10_000.0) == ""  # no sender yet: the listener is only listening
    watch.message(0.0)
    assert watch.usual_interval_s() == FIRST_INTERVAL_S == 60.0
    assert (watch.check(149.9), watch.check(150.0)) == ("", lost(150, 60, 150))


def test_messages_sent_together_are_one_arrival_and_one_missed_message_is_no_loss() -> None:
    # A gateway sends its cuff result and its periodic message back to back every 30 s.
    watch = fed([t for n in range(5) for t in (30.0 * n, 30.0 * n + 0.25)])
    assert watch.usual_interval_s() == 29.75
    # One periodic message missing (60 s of silence) is not yet a lost link.
    assert watch.check(120.25 + 60.0) == ""
    assert watch.check(120.25 + 74.375) == lost(74.375, 29.75, 74.375)


def test_the_usual_interval_is_the_median_so_one_long_pause_does_not_widen_it() -> None:
    # One pause of 24 s, under the 25 s allowed.
    assert fed([0.0, 10.0, 20.0, 44.0, 54.0, 64.0]).usual_interval_s() == 10.0


def test_link_lost_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        MessageLinkWatch(link_lost_after_s=0.0)


def test_the_driver_hands_link_lost_after_to_the_listener() -> None:
    source = Hl7MllpDriver().open(OpenOptions(port="127.0.0.1:0", link_lost_after_s=30.0))
    try:
        assert isinstance(source, Hl7MllpSource)
        assert source.link_watch.link_lost_after_s == 30.0
    finally:
        source.close()


def send_on_a_new_connection(address: tuple[str, int], control: str, at: float) -> bytes:
    """What an interface engine does for each message: connect, send, read the ACK, close."""
    with socket.create_connection(address, timeout=5) as sock:
        return mllp_answer(sock, frame(oru_message(control, at, Vitals(at, 72, 72, 97), None)))


def test_a_sender_connecting_for_each_message_every_10_s_raises_no_link_lost() -> None:
    clock = [0.0]
    source = Hl7MllpSource(Hl7Settings("127.0.0.1", 0), clock=lambda: T0 + clock[0], monotonic=lambda: clock[0])
    source.open()
    try:
        assert source.counters.state == "listening"
        events = []
        for n in range(10):
            clock[0] = 10.0 * n
            ack = send_on_a_new_connection(source.address, f"M{n}", T0 + clock[0])
            assert f"MSA|AA|M{n}".encode() in ack
            # The sender has closed; the listener sees the close within a turn of its loop.
            until = time.monotonic() + 5.0
            while source.connection_count() and time.monotonic() < until:
                time.sleep(0.01)
            assert source.connection_count() == 0
            for dt in (1.0, 5.0, 9.9):  # the recorder's turns until the next message
                clock[0] = 10.0 * n + dt
                events += source.take_link_events()
        assert events == []
        assert source.counters.state == "connected"
        assert source.counters.frames_decoded == 10
        # Silence for 2.5 intervals: lost, once, at that moment.
        clock[0] = 90.0 + 24.9
        assert source.take_link_events() == []
        clock[0] = 90.0 + 25.0
        (event,) = source.take_link_events()
        assert (event.kind, event.t) == (LinkEventKind.LINK_LOST, T0 + 115.0)
        assert source.counters.state == "lost"
        clock[0] = 200.0
        send_on_a_new_connection(source.address, "M10", T0 + clock[0])
        (event,) = source.take_link_events()
        assert event.kind is LinkEventKind.LINK_RESTORED and event.t == T0 + 200.0
        assert (source.counters.state, source.counters.reconnects) == ("connected", 1)
    finally:
        source.close()
