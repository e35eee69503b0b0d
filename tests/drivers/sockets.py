"""Socket helpers shared by the tests of listeners over real loopback connections."""

from __future__ import annotations

import socket
import threading

from drivers.transport.mllp import MllpDeframer


def mllp_answer(sock: socket.socket, data: bytes) -> bytes:
    """Send ``data`` and return the first MLLP block that comes back (without its framing)."""
    sock.sendall(data)
    deframer = MllpDeframer()
    while True:
        got = sock.recv(65536)
        assert got, "the listener closed the connection before answering"
        blocks = deframer.feed(got)
        if blocks:
            return blocks[0]


def closed_by_peer(sock: socket.socket, within_s: float = 5.0) -> bool:
    """Whether the other end closes (or resets) the connection within ``within_s`` seconds."""
    sock.settimeout(within_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


class LoopbackServer:
    """A TCP server on 127.0.0.1 whose thread hands each connection it accepts to :meth:`handle`.

    ``port`` 0 takes a free port (``self.port`` says which); a given port may be taken again after an
    earlier server on it stopped (the listening socket reuses the address). The thread checks
    ``stopping`` between accepts, calls :meth:`idle` whenever an accept times out, and closes the
    listening socket when it ends. Subclasses call :meth:`start` once their own fields are set.
    """

    def __init__(self, name: str, *, port: int = 0, accept_timeout_s: float = 0.05, backlog: int = 8) -> None:
        self.server = socket.create_server(("127.0.0.1", port), backlog=backlog)
        self.server.settimeout(accept_timeout_s)
        self.port: int = self.server.getsockname()[1]
        self.connections = 0
        self.stopping = threading.Event()
        #: Set once the listening socket is closed (the port refuses connections from then on).
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name=name, daemon=True)

    def start(self) -> None:
        """Begin accepting."""
        self._thread.start()

    def handle(self, conn: socket.socket) -> None:
        """Serve one accepted connection (on the server's thread)."""
        raise NotImplementedError

    def idle(self) -> None:
        """Called when an accept timed out (for servers that poll the connections they hold)."""

    def _accept_loop(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    conn, _ = self.server.accept()
                except TimeoutError:
                    self.idle()
                    continue
                except OSError:
                    return
                self.connections += 1
                self.handle(conn)
        finally:
            self.server.close()
            self.closed.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop accepting and wait for the thread; fails if the thread is still running."""
        self.stopping.set()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), f"{self._thread.name} did not stop within {timeout_s:g} s"
