"""README: "On exit it releases the association." After the release the host must not associate again (the
monitor would be left holding the new association), and the monitor's answer to the release is no lost
association ("association lost ...; associating again" on a clean exit)."""

from __future__ import annotations

import logging

import pytest

from drivers.intellivue import messages as msg
from drivers.intellivue.decoder import IntelliVueDecoder
from drivers.intellivue.emulator import IntelliVueMonitor
from drivers.intellivue.framing import encode_frame
from drivers.patient.vitals import PatientFeed

T0 = 1_700_000_000.0


def _associated() -> tuple[IntelliVueDecoder, IntelliVueMonitor]:
    feed = PatientFeed(seed=3, start=T0)
    monitor = IntelliVueMonitor(feed, clock_origin=T0 - 100.0)
    decoder = IntelliVueDecoder()
    for step in range(6):
        at = T0 + step * 0.5
        sent = decoder.outgoing(at)
        while sent:
            decoder.feed(monitor.receive(sent, at), at)
            sent = decoder.outgoing(at)
    assert decoder.polls_sent > 0
    return decoder, monitor


def test_no_association_request_after_the_release_on_exit(caplog: pytest.LogCaptureFixture) -> None:
    decoder, monitor = _associated()
    attempts = decoder.association_attempts
    release = decoder.release()
    assert release == encode_frame(msg.RELEASE_REQUEST)
    at = T0 + 3.2
    # The link's loop may still turn once before the port is closed.
    after = decoder.outgoing(at)
    assert decoder.association_attempts == attempts, "a new association was requested after the release"
    assert after == b""
    with caplog.at_level(logging.WARNING, logger="drivers.intellivue.decoder"):
        decoder.feed(monitor.receive(release, at), at)
    assert "association lost" not in caplog.text
