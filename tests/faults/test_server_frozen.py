"""A server that stops answering without closing the connection (a hung server or a network path that drops
packets): the chair and the station must say they have lost it, as they do when it is refused or killed."""

from __future__ import annotations

import contextlib
import select
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import server as local_server
from monitor import station as station_module
from monitor.replication import replicator as replicator_module
from monitor.replication.replicator import Replicator
from monitor.station import StationFeed, StationModel
from monitor.store import Store


class FreezableProxy:
    """Forwards TCP to the server; ``freeze`` stops passing bytes while every connection stays open."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self.closed.is_set():
                if not self.flowing.wait(0.1):
                    continue
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for s in ready if self.flowing.is_set() else ():
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            return

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed.set()
        self.flowing.set()
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


def _through(proxy: FreezableProxy, passfile: Path) -> str:
    """A URL through the proxy, with a password file for any host and port."""
    lines = [":".join(["*", "*", *line.split(":")[2:]]) for line in passfile.read_text().splitlines() if line]
    wild = passfile.with_suffix(".any")
    wild.write_text("\n".join(lines) + "\n")
    wild.chmod(0o600)
    user = lines[0].split(":")[3]
    return f"postgresql://{user}@127.0.0.1:{proxy.port}/{local_server.DATABASE}?passfile={wild}"


@pytest.fixture
def frozen_setup() -> Iterator[tuple[local_server.LocalServer, FreezableProxy]]:
    folder = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-frozen-"))
    server = local_server.start(folder)
    proxy = FreezableProxy(server.host, server.port)
    try:
        yield server, proxy
    finally:
        proxy.close()
        local_server.stop(folder, mode="immediate")
        local_server.remove(folder)


def test_a_chair_whose_server_stops_answering_says_it_is_not_connected(
    frozen_setup: tuple[local_server.LocalServer, FreezableProxy], tmp_path: Path
) -> None:
    server, proxy = frozen_setup
    url = _through(proxy, local_server.add_role(server, "chair_frozen", kind="chair"))
    db = tmp_path / "chair.db"
    Store(db).close()
    replicator = Replicator(db, url, chair_name="Chair Z")
    replicator.start()
    try:
        deadline = time.monotonic() + 15
        while not replicator.status().connected:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proxy.freeze()
        frozen_at = time.monotonic()
        texts = []
        while time.monotonic() - frozen_at < replicator_module.UNANSWERED_S + 6:
            replicator.publish({"active": True, "session_id": "s", "now": time.time(), "alarms": []})
            texts.append(replicator.status().text)
            if "NOT CONNECTED" in texts[-1]:
                break
            time.sleep(0.25)
        noticed = time.monotonic() - frozen_at
        proxy.thaw()
        thawed_at = time.monotonic()
        while not replicator.status().connected and time.monotonic() - thawed_at < 10:
            time.sleep(0.1)
        back = replicator.status().connected
    finally:
        proxy.close()  # lets a read blocked on the frozen link end
        replicator.stop(timeout=0.5)
    assert "NOT CONNECTED" in texts[-1], (
        f"{noticed:.0f} s after the server stopped answering the chair says: {texts[-1]}")
    assert noticed >= replicator_module.UNANSWERED_S - 1, f"called lost after {noticed:.1f} s, before its time"
    assert back, "the chair did not say it was connected again once the server answered"


def test_a_station_whose_server_stops_answering_says_so(
    frozen_setup: tuple[local_server.LocalServer, FreezableProxy],
) -> None:
    server, proxy = frozen_setup
    url = _through(proxy, local_server.add_role(server, "station_frozen", kind="reader"))
    feed = StationFeed(url, StationModel().apply)
    feed.start()
    try:
        deadline = time.monotonic() + 15
        while not feed.connected:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proxy.freeze()
        frozen_at = time.monotonic()
        while feed.connected and time.monotonic() - frozen_at < station_module.UNANSWERED_S + 6:
            time.sleep(0.1)
        noticed = time.monotonic() - frozen_at
        connected = feed.connected
        proxy.thaw()
        thawed_at = time.monotonic()
        while not feed.connected and time.monotonic() - thawed_at < 10:
            time.sleep(0.1)
        back = feed.connected
    finally:
        proxy.close()  # lets the feed's blocked read end
        feed.stop()
    assert not connected, f"{noticed:.0f} s after the server stopped answering the station still says it is connected"
    assert noticed >= station_module.UNANSWERED_S - 1, f"called lost after {noticed:.1f} s, before its time"
    assert back, "the station did not say it was connected again once the server answered"
