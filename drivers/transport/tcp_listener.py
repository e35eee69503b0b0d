"""A TCP listener that serves every connection from one thread and never blocks on any of them.

What it knows is TCP only: binding, accepting within limits (an allow-list of sender addresses, the
users of this computer whose programs may connect, a maximum number of connections), reading whatever
arrives, writing the answers back when the socket can take them, and closing connections that go idle,
bring no complete message soon after connecting, or stop taking their answers. What the bytes mean
belongs to the protocol that uses it (the HL7 listener): for each accepted connection it
gives a :class:`ConnectionHandler` that turns received bytes into the bytes to answer (and may ask
for its connection to be closed), and it is told through :class:`ListenerHooks` of refusals and
failures. Whether the link to the sender is up is the protocol's judgment, not the listener's:
many senders open a connection for each message and close it after the answer, so a closed
connection says nothing about the link.

Connections that say nothing must not shut the sender out: a connection that has brought no complete
message within ``first_message_s`` (30 s) of connecting is closed, and when every place is taken a new
connection takes the place of the one that has gone longest without a message, unless that one
brought values the session took (the handler says so): the monitor's own connection is never closed
to make room. Four idle sockets once kept the monitor out for the whole 5-minute idle time-out.

Sockets are non-blocking. Answers wait in a per-connection outbox written when the socket can take
them; a connection that owes more than ``max_outbox_bytes`` is no longer read (TCP then holds its
sender back) and is closed when its outbox has not moved for ``write_stall_s``. When ``accept()``
fails (out of file descriptors) the listener stops accepting for ``accept_pause_s`` and tries
again, and an unexpected error in one turn of the loop is reported and the loop carries on.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from drivers.base import LinkCounters
from drivers.transport import local_peer

log = logging.getLogger(__name__)

#: Answer bytes a connection may owe before the listener stops reading from it (its sender does not read).
MAX_OUTBOX_BYTES: Final = 64 * 1024
#: A connection whose answers have not moved for this long is closed.
WRITE_STALL_S: Final = 30.0
#: After an accept() failure (out of file descriptors) the listener waits this long before accepting again.
ACCEPT_PAUSE_S: Final = 1.0
#: A connection that has brought no complete message this long after connecting is closed.
FIRST_MESSAGE_S: Final = 30.0
#: How long one turn of the loop waits for a socket; also how often idle connections are looked at.
TURN_S: Final = 0.5

#: States in :attr:`LinkCounters.state`: the listener sets listening and closed; the protocol judges
#: connected (data arriving) and lost.
STATE_LISTENING: Final = "listening"
STATE_CONNECTED: Final = "connected"
STATE_LOST: Final = "lost"
STATE_CLOSED: Final = "closed"


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    """How many connections, from where, and how long a quiet or stalled one is kept."""

    max_connections: int = 4
    idle_timeout_s: float = 300.0
    #: Sender addresses allowed to connect, lower case (empty: any).
    allow_from: frozenset[str] = frozenset()
    max_outbox_bytes: int = MAX_OUTBOX_BYTES
    write_stall_s: float = WRITE_STALL_S
    accept_pause_s: float = ACCEPT_PAUSE_S
    first_message_s: float = FIRST_MESSAGE_S
    #: The users of this computer whose programs may connect (None: any); see :mod:`drivers.transport.local_peer`.
    local_uids: frozenset[int] | None = None


class ConnectionHandler(Protocol):
    """The protocol's side of one accepted connection."""

    def received(self, data: bytes) -> bytes:
        """Bytes that arrived; returns the bytes to send back (may be empty)."""
        ...

    def closed(self, why: str) -> None:
        """The connection is gone (its sender closed it, or the listener did, for ``why``)."""
        ...

    def close_reason(self) -> str:
        """Why the protocol wants this connection closed after its answers so far ('' to keep it)."""
        ...

    def messages(self) -> int:
        """How many complete messages this connection has brought so far (answered or refused)."""
        ...

    def carries_session(self) -> bool:
        """Whether this connection brought values the session took: it is never closed to make room."""
        ...


class ListenerHooks(Protocol):
    """What the listener tells the protocol that uses it; called on the listener's thread."""

    def accepted(self, peer: str) -> ConnectionHandler:
        """A connection from ``peer`` (``host:port``) was taken: the handler that will serve it."""
        ...

    def refused(self, host: str, peer: str, why: str) -> None:
        """A connection was closed by the limits: at once (not on the allow-list, too many connections), or to
        make room for a new one."""
        ...

    def failed(self, condition: str, detail: str) -> None:
        """``accept()`` failed (``accept_failed``) or one turn of the loop raised (``listener_error``)."""
        ...


@dataclass
class _Connection:
    sock: socket.socket
    peer: str
    handler: ConnectionHandler
    last_in: float
    #: Monotonic time of connecting, and of the last complete message (None: none yet).
    opened: float = 0.0
    last_message: float | None = None
    messages: int = 0
    outbox: bytearray = field(default_factory=bytearray)
    #: Monotonic time the outbox last shrank (or was empty).
    last_out: float = 0.0
    #: Reading is paused because the sender does not take its answers.
    paused: bool = False


class TcpListener:
    """Listens on one address and serves every connection from one thread; see the module text."""

    def __init__(
        self,
        host: str,
        port: int,
        hooks: ListenerHooks,
        limits: ListenerLimits | None = None,
        *,
        counters: LinkCounters | None = None,
        name: str = "tcp-listener",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hooks = hooks
        self.limits = limits or ListenerLimits()
        #: Bytes in and out, reconnects and the state; the caller may share its own counters.
        self.counters = counters if counters is not None else LinkCounters()
        self.counters.state = STATE_CLOSED
        self.address: tuple[str, int] = (host, port)
        self._name = name
        self._monotonic = monotonic
        self._selector: selectors.BaseSelector | None = None
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._connections: dict[int, _Connection] = {}
        self._accept_paused_until: float | None = None
        #: Monotonic time the thread last went round its loop (read by the watchdog).
        self.last_beat = time.monotonic()
        #: Connections closed at once by the limits, closed to make room for a new one, accept() failures, and
        #: loop turns that raised.
        self.refused_connections = 0
        self.made_room = 0
        self.accept_errors = 0
        self.thread_errors = 0

    @property
    def thread(self) -> threading.Thread | None:
        """The listening thread (None before :meth:`open` and after :meth:`close`)."""
        return self._thread

    def open(self) -> None:
        """Bind and start listening (raises OSError when the address is taken or not ours, as
        :class:`~drivers.transport.local_peer.TakenByOtherUser` when a program of another user of this computer
        listens there); idempotent."""
        if self._thread is not None:
            return
        host, port = self.address
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(8)
        except OSError as exc:
            listener.close()
            if exc.errno == errno.EADDRINUSE and (other := local_peer.other_user_listening(host, port)) is not None:
                raise local_peer.TakenByOtherUser(host, port, other) from exc
            raise
        listener.setblocking(False)
        self._listener = listener
        self.address = listener.getsockname()[:2]
        # The other end of this pair wakes the thread at once when the listener is closed.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, "listen")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stop.clear()
        self.counters.state = STATE_LISTENING
        self._thread = threading.Thread(target=self._run, name=f"{self._name} {self.address[1]}", daemon=True)
        self._thread.start()

    def connection_count(self) -> int:
        """Connections open now."""
        return len(self._connections)

    def handlers(self) -> list[ConnectionHandler]:
        """The handlers of the connections open now."""
        return [c.handler for c in list(self._connections.values())]

    def outbox_sizes(self) -> list[int]:
        """Bytes each open connection still owes its sender (for diagnosis and tests)."""
        return [len(c.outbox) for c in list(self._connections.values())]

    def close(self) -> None:
        """Stop listening, close every connection and join the thread; idempotent."""
        self._stop.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)
        for conn in list(self._connections.values()):
            self._drop(conn, "listener closed")
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._listener = self._wake_r = self._wake_w = None
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self.counters.state = STATE_CLOSED

    # -- the listening thread ----------------------------------------------------------------

    def _run(self) -> None:
        selector = self._selector
        assert selector is not None
        while not self._stop.is_set():
            self.last_beat = time.monotonic()
            try:
                if self._serve(selector):
                    return
            except Exception as exc:  # the listener must outlive any one bad turn
                self.thread_errors += 1
                log.exception("%s: unexpected error; carrying on", self._name)
                self.hooks.failed("listener_error", f"listener error: {exc}")
                self._stop.wait(0.2)

    def _serve(self, selector: selectors.BaseSelector) -> bool:
        """One turn of the loop; True when told to stop."""
        for key, mask in selector.select(timeout=TURN_S):
            if key.data == "wake":
                return True
            if key.data == "listen":
                self._accept()
            else:
                conn = self._connections.get(key.fd)
                if conn is None:
                    continue
                if mask & selectors.EVENT_READ:
                    self._receive(conn)
                if mask & selectors.EVENT_WRITE and key.fd in self._connections:
                    self._flush(conn)
        self._housekeeping()
        return False

    def _housekeeping(self) -> None:
        now = self._monotonic()
        limits = self.limits
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            if self._selector is not None and self._listener is not None:
                self._selector.register(self._listener, selectors.EVENT_READ, "listen")
        for conn in list(self._connections.values()):
            if conn.outbox and now - conn.last_out > limits.write_stall_s:
                self._drop(conn, f"its sender has not taken its acknowledgments for {limits.write_stall_s:g} s")
            elif now - conn.last_in > limits.idle_timeout_s:
                self._drop(conn, f"idle for {limits.idle_timeout_s:g} s")
            elif conn.last_message is None and now - conn.opened > limits.first_message_s:
                self._drop(conn, f"no complete message within {limits.first_message_s:g} s of connecting")

    def _accept(self) -> None:
        assert self._listener is not None
        assert self._selector is not None
        try:
            sock, address = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # Out of file descriptors (EMFILE/ENFILE), out of memory...: the waiting connection stays
            # in the backlog, so stop watching the socket for a moment instead of spinning on it.
            pause = self.limits.accept_pause_s
            self.accept_errors += 1
            self._selector.unregister(self._listener)
            self._accept_paused_until = self._monotonic() + pause
            log.error("%s cannot accept a connection: %s; trying again in %g s", self._name, exc, pause)
            self.hooks.failed("accept_failed", f"cannot accept a connection: {exc}")
            return
        host = str(address[0])
        peer = f"{host}:{address[1]}"
        why = self._refusal(host)
        if not why and self.limits.local_uids is not None:
            why = local_peer.refusal(sock, (host, int(address[1])), self.limits.local_uids)
        if not why and len(self._connections) >= self.limits.max_connections and not self._make_room(peer):
            why = f"already {len(self._connections)} connections, each bringing the session's values (max_connections)"
        if why:
            self.refused_connections += 1
            sock.close()
            log.warning("%s refused a connection from %s: %s", self._name, peer, why)
            self.hooks.refused(host, peer, why)
            return
        sock.setblocking(False)
        # A bounded kernel buffer for answers too, so a sender that does not read them is noticed soon.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        try:
            handler = self.hooks.accepted(peer)
        except Exception:
            sock.close()
            raise
        now = self._monotonic()
        conn = _Connection(sock, peer, handler, last_in=now, last_out=now, opened=now)
        self._connections[sock.fileno()] = conn
        self._selector.register(sock, selectors.EVENT_READ, "conn")
        log.info("%s: connection from %s", self._name, peer)

    def _refusal(self, host: str) -> str:
        """Why a connection from ``host`` is not taken whatever the room; empty when it may be."""
        allowed = self.limits.allow_from
        if allowed and host.lower() not in allowed:
            return f"address {host} is not on the listener's allow_from list"
        return ""

    def _make_room(self, newcomer: str) -> bool:
        """Close the connection that has gone longest without a complete message, unless it brought values the
        session took, so that ``newcomer`` can be taken; False when every connection is the session's."""
        spare = [c for c in self._connections.values() if not c.handler.carries_session()]
        if not spare:
            return False
        oldest = min(spare, key=lambda c: c.opened if c.last_message is None else c.last_message)
        quiet = self._monotonic() - (oldest.opened if oldest.last_message is None else oldest.last_message)
        said = "no message yet" if oldest.last_message is None else "no message since"
        why = f"closed after {quiet:.0f} s ({said}) to make room for {newcomer} (max_connections)"
        self.made_room += 1
        log.warning("%s: %s %s", self._name, oldest.peer, why)
        self._drop(oldest, why)
        host = oldest.peer.rpartition(":")[0]
        self.hooks.refused(host, oldest.peer, why)
        return True

    def _receive(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._drop(conn, f"connection error: {exc}")
            return
        if not data:
            self._drop(conn, "sender closed the connection")
            return
        conn.last_in = self._monotonic()
        self.counters.bytes_in += len(data)
        answer = conn.handler.received(data)
        messages = conn.handler.messages()
        if messages != conn.messages:
            conn.messages, conn.last_message = messages, conn.last_in
        if not conn.outbox:
            conn.last_out = conn.last_in
        conn.outbox += answer
        self._flush(conn)
        why = conn.handler.close_reason()
        if why:
            self._drop(conn, why)

    def _flush(self, conn: _Connection) -> None:
        assert self._selector is not None
        if conn.outbox:
            try:
                sent = conn.sock.send(conn.outbox)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._drop(conn, f"cannot answer: {exc}")
                return
            if sent:
                del conn.outbox[:sent]
                conn.last_out = self._monotonic()
            self.counters.bytes_out += sent
        # A sender that does not read its answers is not read either: what it sends waits in TCP.
        conn.paused = len(conn.outbox) > self.limits.max_outbox_bytes
        events = (0 if conn.paused else selectors.EVENT_READ) | (selectors.EVENT_WRITE if conn.outbox else 0)
        self._selector.modify(conn.sock, events or selectors.EVENT_READ, "conn")

    def _drop(self, conn: _Connection, why: str) -> None:
        fd = conn.sock.fileno()
        if self._connections.pop(fd, None) is None:
            return
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(conn.sock)
        conn.sock.close()
        log.info("%s: %s: %s", self._name, conn.peer, why)
        conn.handler.closed(why)
