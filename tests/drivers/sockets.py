"""Socket helpers shared by the tests of listeners over real loopback connections."""

from __future__ import annotations

import socket


def closed_by_peer(sock: socket.socket, within_s: float = 5.0) -> bool:
    """Whether the other end closes (or resets) the connection within ``within_s`` seconds."""
    sock.settimeout(within_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
