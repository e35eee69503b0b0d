"""Connections that say nothing cannot keep the monitor out of the HL7 listener (over real loopback sockets).

Four idle sockets (any local account can open them) once filled the default four places for the whole 5-minute
idle time-out: the monitor was reset on every attempt and nothing was stored.
"""

from __future__ import annotations

import socket
import time

from drivers.base import LinkEventKind
from drivers.hl7.listener import Hl7MllpSource, Hl7Settings
from drivers.hl7.sender import Hl7Sender
from drivers.patient.vitals import PatientFeed
from tests.drivers.sockets import closed_by_peer


def _wait(condition: object, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(condition())  # type: ignore[operator]


def test_four_idle_sockets_do_not_keep_the_monitor_out() -> None:
    source = Hl7MllpSource(Hl7Settings("127.0.0.1", 0))  # the defaults: 4 places, 300 s idle time-out
    source.open()
    idle = [socket.create_connection(source.address, timeout=5) for _ in range(4)]
    monitor = Hl7Sender(PatientFeed(seed=5, start=time.time()), *source.address, interval_s=0.0, timeout_s=5.0)
    try:
        assert _wait(lambda: source.connection_count() == 4)
        assert monitor.send_due(time.time()) == "AA"
        assert closed_by_peer(idle[0])  # the longest quiet one made room
        # Four more idle sockets: each takes an idle one's place, never the monitor's connection.
        idle += [socket.create_connection(source.address, timeout=5) for _ in range(4)]
        assert all(closed_by_peer(sock) for sock in idle[1:5])
        assert [monitor.send_due(time.time()) for _ in range(3)] == ["AA"] * 3
        assert monitor.counters.sent == 4
        assert _wait(lambda: len(source.read(0.1)) > 0)
        events = [e for e in source.take_link_events() if e.kind is LinkEventKind.TECHNICAL]
        # On the timeline once a minute per address, naming why.
        assert [e.condition for e in events] == ["hl7_connection_refused"]
        assert "to make room for 127.0.0.1:" in events[0].detail
    finally:
        monitor.close()
        for sock in idle:
            sock.close()
        source.close()


def test_a_connection_trickling_bytes_without_a_message_is_closed_after_30_s() -> None:
    offset = [0.0]
    source = Hl7MllpSource(Hl7Settings("127.0.0.1", 0), monotonic=lambda: time.monotonic() + offset[0])
    source.open()
    try:
        with socket.create_connection(source.address, timeout=5) as trickler:
            trickler.sendall(b"\x0bMSH|")  # a message begun, never ended
            assert _wait(lambda: source.listener.counters.bytes_in == 5)
            offset[0] = 20.0
            trickler.sendall(b"^")  # a byte now and then kept it open for good under the idle time-out
            assert not closed_by_peer(trickler, within_s=0.5)
            offset[0] = 31.0
            assert closed_by_peer(trickler)
        assert source.connection_count() == 0
    finally:
        source.close()


def test_the_first_message_time_is_a_setting() -> None:
    assert Hl7Settings.from_options(None, {}).first_message_s == 30.0
    assert Hl7Settings.from_options(None, {"first_message_timeout": "120"}).first_message_s == 120.0
