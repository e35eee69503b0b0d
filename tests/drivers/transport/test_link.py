"""SerialLink over real pseudo-terminals, loop:// and a loopback TCP terminal server."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
import serial

from drivers.base import LinkEvent, LinkEventKind, PortSettings
from drivers.transport.serial_link import LinkItem, Received, SerialLink
from tests.drivers.sockets import LoopbackServer

SETTINGS = PortSettings()


def collect(link: SerialLink, until: Callable[[list[LinkItem]], bool], within_s: float) -> list[LinkItem]:
    """Drain the link until ``until(items)`` holds or time runs out."""
    items: list[LinkItem] = []
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and not until(items):
        items.extend(link.take(0.05))
    return items


def data_of(items: list[LinkItem]) -> bytes:
    return b"".join(i.data for i in items if isinstance(i, Received))


def kinds(items: list[LinkItem]) -> list[LinkEventKind]:
    return [i.kind for i in items if isinstance(i, LinkEvent)]


@pytest.fixture
def link_factory() -> Iterator[Callable[..., SerialLink]]:
    made: list[SerialLink] = []

    def make(url: str, **kwargs: object) -> SerialLink:
        link = SerialLink(url, SETTINGS, **kwargs)  # type: ignore[arg-type]
        made.append(link)
        return link

    yield make
    for link in made:
        link.close()


def test_loop_url_reads_what_is_written(link_factory: Callable[..., SerialLink]) -> None:
    link = link_factory("loop://")
    link.open()
    assert link.write(b"SPO2=098%\r\n")
    items = collect(link, lambda i: data_of(i) == b"SPO2=098%\r\n", 2.0)
    assert data_of(items) == b"SPO2=098%\r\n"
    assert link.counters.bytes_in == 11
    assert link.counters.bytes_out == 11
    assert link.state == "connected"


def test_a_port_that_does_not_exist_fails_at_open(link_factory: Callable[..., SerialLink]) -> None:
    link = link_factory("/dev/does-not-exist-ttyUSB9")
    with pytest.raises(serial.SerialException, match="does-not-exist"):
        link.open()
    assert not link.is_open


def test_pty_hangup_is_reported_then_the_link_heals(null_modem, link_factory) -> None:  # type: ignore[no-untyped-def]
    link = link_factory(str(null_modem.host_link), backoff_initial_s=0.1, backoff_max_s=0.4)
    link.open()
    null_modem.inject(b"before the cut\r\n")
    first = collect(link, lambda i: data_of(i) == b"before the cut\r\n", 2.0)
    assert data_of(first) == b"before the cut\r\n"

    cut_at = time.time()
    null_modem.unplug()
    lost = collect(link, lambda i: LinkEventKind.LINK_LOST in kinds(i), 6.0)
    assert kinds(lost) == [LinkEventKind.LINK_LOST]
    event = next(i for i in lost if isinstance(i, LinkEvent))
    # A hang-up is an error on the port, noticed at once rather than after the silence timeout.
    assert event.t - cut_at < 1.0
    assert "port error" in event.detail
    assert link.state == "lost"

    null_modem.replug()
    # The device keeps talking; what it says before the port is reopened is discarded by the open.
    back: list[LinkItem] = []
    deadline = time.monotonic() + 5.0
    while b"after" not in data_of(back) and time.monotonic() < deadline:
        null_modem.inject(b"after\r\n")
        back.extend(collect(link, lambda i: b"after" in data_of(i), 0.2))
    assert kinds(back) == [LinkEventKind.LINK_RESTORED]
    # The marker comes before the first bytes received after the cut.
    assert isinstance(back[0], LinkEvent)
    assert link.counters.reconnects == 1
    assert link.state == "connected"


def test_silence_counts_as_a_lost_link(null_modem, link_factory) -> None:  # type: ignore[no-untyped-def]
    link = link_factory(str(null_modem.host_link), link_lost_after_s=0.5, backoff_initial_s=0.1)
    link.open()
    null_modem.inject(b"x")
    started = time.monotonic()
    items = collect(link, lambda i: LinkEventKind.LINK_LOST in kinds(i), 3.0)
    waited = time.monotonic() - started
    assert kinds(items) == [LinkEventKind.LINK_LOST]
    assert 0.4 <= waited < 1.5
    assert "no data" in next(i for i in items if isinstance(i, LinkEvent)).detail
    # Still silent: no second "lost" while it keeps retrying.
    assert kinds(collect(link, lambda i: False, 1.2)) == []
    null_modem.inject(b"y")
    items = collect(link, lambda i: b"y" in data_of(i), 3.0)
    assert kinds(items) == [LinkEventKind.LINK_RESTORED]


class DroppingServer(LoopbackServer):
    """A loopback TCP terminal server streaming a numbered line to its client; it can drop the client.

    It keeps streaming (as a device behind a terminal server does) because pyserial discards
    what arrived before ``open()`` returned.
    """

    def __init__(self) -> None:
        super().__init__("tcp-server", accept_timeout_s=0.1)
        self.clients: list[socket.socket] = []
        self.start()

    def handle(self, conn: socket.socket) -> None:
        self.clients.append(conn)
        number = len(self.clients)
        while not self.stopping.is_set():
            try:
                conn.sendall(b"hello %d\r\n" % number)
            except OSError:
                break
            time.sleep(0.1)

    def drop_all(self) -> None:
        for c in self.clients:
            c.close()

    def close(self) -> None:
        self.stop(2.0)
        self.drop_all()


def test_dropped_socket_is_lost_and_reconnected(link_factory: Callable[..., SerialLink]) -> None:
    server = DroppingServer()
    try:
        link = link_factory(f"socket://127.0.0.1:{server.port}", backoff_initial_s=0.1)
        link.open()
        assert b"hello 1" in data_of(collect(link, lambda i: b"hello 1" in data_of(i), 3.0))
        server.drop_all()
        items = collect(link, lambda i: b"hello 2" in data_of(i), 5.0)
        assert kinds(items) == [LinkEventKind.LINK_LOST, LinkEventKind.LINK_RESTORED]
        assert b"hello 2" in data_of(items)
        assert link.counters.reconnects == 1
    finally:
        server.close()


def test_close_is_idempotent_and_stops_the_thread(link_factory: Callable[..., SerialLink]) -> None:
    link = link_factory("loop://")
    link.open()
    link.close()
    link.close()
    assert link.state == "closed"
    assert not link.write(b"x")
