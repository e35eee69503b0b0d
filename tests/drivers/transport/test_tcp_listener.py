"""TcpListener over real loopback sockets: limits, idle and stalled senders, failures, closing on request."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.transport.tcp_listener import (
    MAX_OUTBOX_BYTES,
    STATE_CLOSED,
    STATE_LISTENING,
    ConnectionHandler,
    ListenerLimits,
    TcpListener,
)
from tests.drivers.sockets import closed_by_peer


class Echo:
    """Answers every chunk with itself in upper case; raises on ``boom``; asks to be closed after ``bye``.

    A chunk ending in ``.`` completes a message; one holding ``mine`` brings values the session takes."""

    def __init__(self, hooks: Hooks, peer: str) -> None:
        self.hooks = hooks
        self.peer = peer
        self.complete = 0
        self.session = False

    def received(self, data: bytes) -> bytes:
        if b"boom" in data:
            raise RuntimeError("handler failed")
        self.hooks.received.append(data)
        if b"bye" in data:
            self.leaving = "the protocol is done with it"
        self.complete += data.count(b".")
        self.session = self.session or b"mine" in data
        return data.upper()

    def messages(self) -> int:
        return self.complete

    def carries_session(self) -> bool:
        return self.session

    def closed(self, why: str) -> None:
        self.hooks.closed.append((self.peer, why))

    def close_reason(self) -> str:
        return self.leaving

    leaving = ""


class Hooks:
    """Records what the listener tells its protocol."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.closed: list[tuple[str, str]] = []
        self.refusals: list[tuple[str, str]] = []
        self.failures: list[tuple[str, str]] = []

    def accepted(self, peer: str) -> ConnectionHandler:
        return Echo(self, peer)

    def refused(self, host: str, peer: str, why: str) -> None:
        self.refusals.append((host, why))

    def failed(self, condition: str, detail: str) -> None:
        self.failures.append((condition, detail))


def wait_for(condition: Callable[[], bool], within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def ask(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        assert chunk, "the listener closed the connection"
        got += chunk
    return got


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def offset() -> list[float]:
    """Seconds added to the listener's monotonic clock (to age connections without waiting)."""
    return [0.0]


@pytest.fixture
def make(hooks: Hooks, offset: list[float]) -> Iterator[Callable[..., TcpListener]]:
    made: list[TcpListener] = []

    def build(**limits: object) -> TcpListener:
        listener = TcpListener(
            "127.0.0.1",
            0,
            hooks,
            ListenerLimits(**limits),  # type: ignore[arg-type]
            monotonic=lambda: time.monotonic() + offset[0],
        )
        listener.open()
        made.append(listener)
        return listener

    yield build
    for listener in made:
        listener.close()


def test_answers_each_connection_and_counts_bytes(make: Callable[..., TcpListener], hooks: Hooks) -> None:
    listener = make()
    assert listener.counters.state == STATE_LISTENING
    assert listener.address[1] != 0
    with (
        socket.create_connection(listener.address, timeout=5) as a,
        socket.create_connection(listener.address, timeout=5) as b,
    ):
        assert ask(a, b"hello") == b"HELLO"
        assert ask(b, b"there") == b"THERE"
        assert listener.connection_count() == 2
        # Connections are no judgment of the link (the protocol makes that from what arrives).
        assert listener.counters.state == STATE_LISTENING
    assert wait_for(lambda: len(hooks.closed) == 2)
    assert listener.counters.bytes_in == listener.counters.bytes_out == 10
    assert sorted(why for _, why in hooks.closed) == ["sender closed the connection"] * 2
    listener.close()
    assert listener.counters.state == STATE_CLOSED
    assert listener.thread is None


def test_connections_closing_are_no_link_event_and_a_handler_may_ask_to_close(
    make: Callable[..., TcpListener], hooks: Hooks
) -> None:
    listener = make()
    # A sender that connects for each message: the listener reports nothing when it leaves.
    for word in (b"a", b"b"):
        with socket.create_connection(listener.address, timeout=5) as sock:
            assert ask(sock, word) == word.upper()
    assert wait_for(lambda: len(hooks.closed) == 2)
    assert listener.counters.state == STATE_LISTENING
    assert listener.counters.reconnects == 0
    # The protocol asks for a connection to be closed: its answer goes first, then the close.
    with socket.create_connection(listener.address, timeout=5) as sock:
        assert ask(sock, b"bye") == b"BYE"
        assert closed_by_peer(sock)
    assert wait_for(lambda: len(hooks.closed) == 3)
    assert hooks.closed[-1][1] == "the protocol is done with it"


def test_connection_limit_allow_list_and_idle_timeout(
    make: Callable[..., TcpListener], hooks: Hooks, offset: list[float]
) -> None:
    listener = make(max_connections=2, idle_timeout_s=30.0, first_message_s=60.0)
    first = socket.create_connection(listener.address, timeout=5)
    second = socket.create_connection(listener.address, timeout=5)
    assert ask(first, b"mine.") == b"MINE." and ask(second, b"mine.") == b"MINE."
    # Both places hold connections that brought the session's values: a third is refused.
    third = socket.create_connection(listener.address, timeout=5)
    assert closed_by_peer(third)
    # The hooks are told just after the socket closes: wait for them.
    assert wait_for(lambda: len(hooks.refusals) == 1)
    assert listener.refused_connections == 1
    assert hooks.refusals[0][1] == "already 2 connections, each bringing the session's values (max_connections)"
    offset[0] = 31.0  # both connections now idle beyond the time-out
    assert closed_by_peer(first) and closed_by_peer(second)
    assert wait_for(lambda: len(hooks.closed) == 2)
    assert all("idle for 30 s" in why for _, why in hooks.closed)
    assert listener.counters.state == STATE_LISTENING
    for sock in (first, second, third):
        sock.close()

    elsewhere = make(allow_from=frozenset({"10.9.9.9"}))
    with socket.create_connection(elsewhere.address, timeout=5) as sock:
        assert closed_by_peer(sock)
    assert wait_for(lambda: len(hooks.refusals) == 2)
    assert elsewhere.refused_connections == 1
    assert hooks.refusals[-1] == ("127.0.0.1", "address 127.0.0.1 is not on the listener's allow_from list")


def test_a_connection_without_a_complete_message_is_closed_after_the_first_message_time(
    make: Callable[..., TcpListener], hooks: Hooks, offset: list[float]
) -> None:
    listener = make(first_message_s=30.0)
    silent = socket.create_connection(listener.address, timeout=5)
    trickling = socket.create_connection(listener.address, timeout=5)
    talking = socket.create_connection(listener.address, timeout=5)
    assert ask(trickling, b"x") == b"X"  # bytes, but no complete message: they do not keep it open
    assert ask(talking, b"one.") == b"ONE."
    offset[0] = 31.0
    assert closed_by_peer(silent) and closed_by_peer(trickling)
    assert wait_for(lambda: len(hooks.closed) == 2)
    assert [why for _, why in hooks.closed] == ["no complete message within 30 s of connecting"] * 2
    # A connection that brought a message is kept until the idle time-out (300 s).
    assert ask(talking, b"two.") == b"TWO."
    assert listener.connection_count() == 1
    for sock in (silent, trickling, talking):
        sock.close()


def test_a_new_connection_takes_the_place_of_the_longest_quiet_one_never_the_sessions(
    make: Callable[..., TcpListener], hooks: Hooks, offset: list[float]
) -> None:
    listener = make(max_connections=3)
    monitor = socket.create_connection(listener.address, timeout=5)
    assert ask(monitor, b"mine.") == b"MINE."
    idle = [socket.create_connection(listener.address, timeout=5) for _ in range(2)]
    assert wait_for(lambda: listener.connection_count() == 3)
    offset[0] = 10.0
    # Every place is taken: the newcomer is served, in place of the first idle connection (not the monitor's,
    # although it is the oldest).
    newcomer = socket.create_connection(listener.address, timeout=5)
    assert ask(newcomer, b"hello.") == b"HELLO."
    assert closed_by_peer(idle[0])
    assert wait_for(lambda: len(hooks.refusals) == 1)
    host, why = hooks.refusals[0]
    assert host == "127.0.0.1"
    made_room = r"closed after 1\d s \(no message yet\) to make room for 127\.0\.0\.1:\d+ \(max_connections\)"
    assert re.fullmatch(made_room, why), why
    assert listener.made_room == 1 and listener.refused_connections == 0
    # The next one takes the place of the second idle connection; the monitor is answered throughout.
    later = socket.create_connection(listener.address, timeout=5)
    assert closed_by_peer(idle[1])
    assert ask(monitor, b"mine again.") == b"MINE AGAIN."
    # Then the newcomer's, quiet since its message, goes before the later one, which has said nothing for less.
    offset[0] = 20.0
    last = socket.create_connection(listener.address, timeout=5)
    assert closed_by_peer(newcomer)
    assert ask(last, b"x.") == b"X." and ask(later, b"y.") == b"Y."
    for sock in (monitor, *idle, newcomer, later, last):
        sock.close()


def test_a_sender_that_never_reads_is_no_longer_read_then_closed_when_stalled(
    make: Callable[..., TcpListener], hooks: Hooks, offset: list[float]
) -> None:
    listener = make(write_stall_s=10.0)
    stop = threading.Event()

    def flood() -> None:
        with socket.socket() as bad:
            bad.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            bad.connect(listener.address)
            bad.settimeout(0.2)
            while not stop.is_set():
                try:
                    bad.sendall(b"z" * 65536)  # and never a recv()
                except TimeoutError:
                    pass  # the listener no longer reads it: TCP holds it back
                except OSError:
                    return  # closed by the listener

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: any(size > MAX_OUTBOX_BYTES for size in listener.outbox_sizes()), 20.0)
        # Another sender is still answered at once while the first one is held back.
        with socket.create_connection(listener.address, timeout=5) as good:
            assert ask(good, b"ok") == b"OK"
        # What the flooding sender is owed stays bounded: its reads stopped.
        time.sleep(0.3)
        assert max(listener.outbox_sizes()) <= MAX_OUTBOX_BYTES + 2 * 65536
        offset[0] = 11.0
        assert wait_for(lambda: any("not taken its acknowledgments for 10 s" in why for _, why in hooks.closed))
        assert listener.connection_count() == 0
    finally:
        stop.set()
        thread.join(5)


def test_an_error_in_a_handler_is_reported_and_the_listener_carries_on(
    make: Callable[..., TcpListener], hooks: Hooks
) -> None:
    listener = make()
    with socket.create_connection(listener.address, timeout=5) as sock:
        sock.sendall(b"boom")
        assert wait_for(lambda: bool(hooks.failures))
    assert hooks.failures[0] == ("listener_error", "listener error: handler failed")
    assert listener.thread_errors == 1
    with socket.create_connection(listener.address, timeout=5) as sock:
        assert ask(sock, b"after") == b"AFTER"
    assert listener.thread is not None and listener.thread.is_alive()


def test_an_address_in_use_raises_and_leaves_nothing_running(make: Callable[..., TcpListener], hooks: Hooks) -> None:
    taken = make()
    again = TcpListener(*taken.address, hooks)
    with pytest.raises(OSError, match=r"in use"):
        again.open()
    assert again.thread is None


EMFILE_CHILD = r"""
import json, os, resource, sys, time
from drivers.transport.tcp_listener import ListenerLimits, TcpListener

class Hooks:
    failures = []
    def accepted(self, peer):
        return Echo()
    def link_changed(self, kind, detail): pass
    def refused(self, host, peer, why): pass
    def failed(self, condition, detail):
        self.failures.append(condition)

class Echo:
    def received(self, data):
        return data.upper()
    def closed(self, why): pass
    def close_reason(self): return ""
    def messages(self): return 0
    def carries_session(self): return False

hooks = Hooks()
listener = TcpListener("127.0.0.1", 0, hooks, ListenerLimits(max_connections=64))
listener.open()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
# Room for a few connections only (descriptors are numbered from the lowest free one).
resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + int(sys.argv[1]), hard))
print(listener.address[1], flush=True)
sys.stdin.readline()
print(json.dumps({
    "accept_errors": listener.accept_errors,
    "thread_alive": listener.thread is not None and listener.thread.is_alive(),
    "failures": hooks.failures,
}), flush=True)
listener.close()
"""


def test_out_of_file_descriptors_at_accept_is_survived() -> None:
    root = Path(__file__).resolve().parents[3]
    child = subprocess.Popen(
        [sys.executable, "-c", EMFILE_CHILD, "4"], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        port = int(child.stdout.readline())
        clients = []
        for _ in range(12):  # more than the child has descriptors for
            try:
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=1))
            except OSError:
                break
        time.sleep(0.5)
        for sock in clients:
            sock.close()
        # The listener accepts again once descriptors are free: a sender gets its answer.
        answer = b""
        deadline = time.monotonic() + 10
        while not answer and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    answer = ask(sock, b"back")
            except (OSError, AssertionError):
                time.sleep(0.2)
        assert answer == b"BACK"
        child.stdin.write("report\n")
        child.stdin.flush()
        report = json.loads(child.stdout.readline())
        assert report["accept_errors"] >= 1
        assert report["thread_alive"]
        assert "accept_failed" in report["failures"]
    finally:
        child.kill()
        child.wait(5)
        child.stdin.close()
        child.stdout.close()
