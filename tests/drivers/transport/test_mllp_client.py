"""MllpClient against a loopback receiver that answers in chunks, early, late, or not at all."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from drivers.transport.mllp import MllpClient, MllpDeframer, ReceiverClosed, frame
from tests.drivers.sockets import LoopbackServer


class Receiver(LoopbackServer):
    """Accepts one connection at a time; ``reply`` turns each message received into the bytes sent back."""

    def __init__(self, reply: Callable[[str], list[bytes]]) -> None:
        super().__init__("mllp-receiver")
        self.reply = reply
        self.received: list[str] = []
        self.conn: socket.socket | None = None
        self.start()

    def handle(self, conn: socket.socket) -> None:
        self.conn = conn
        with conn:
            deframer = MllpDeframer()
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                for body in deframer.feed(data):
                    text = body.decode()
                    self.received.append(text)
                    for chunk in self.reply(text):
                        if chunk == b"CLOSE":
                            conn.shutdown(socket.SHUT_RDWR)
                            break
                        conn.sendall(chunk)
                        time.sleep(0.01)  # separate TCP segments

    def close(self) -> None:
        # shutdown(), not close(), wakes the thread blocked in recv().
        if self.conn is not None:
            with contextlib.suppress(OSError):  # already closed by its peer
                self.conn.shutdown(socket.SHUT_RDWR)
        self.stop()


@pytest.fixture
def receiver() -> Iterator[Callable[[Callable[[str], list[bytes]]], Receiver]]:
    made: list[Receiver] = []

    def start(reply: Callable[[str], list[bytes]]) -> Receiver:
        made.append(Receiver(reply))
        return made[-1]

    yield start
    for r in made:
        r.close()


def test_an_answer_split_over_segments_and_after_stray_bytes_is_read_whole(receiver) -> None:  # type: ignore[no-untyped-def]
    r = receiver(lambda text: [b"\n\n", frame("ACK|" + text)[:3], frame("ACK|" + text)[3:]])
    client = MllpClient("127.0.0.1", r.port, answer_timeout_s=5)
    try:
        assert client.exchange("MSG1") == "ACK|MSG1"
        assert client.exchange("MSG2") == "ACK|MSG2"
        assert r.received == ["MSG1", "MSG2"]
        assert client.connected
    finally:
        client.close()
    assert not client.connected


def test_two_answers_in_one_segment_are_kept_in_order(receiver) -> None:  # type: ignore[no-untyped-def]
    r = receiver(lambda text: [frame("late") + frame("ACK|" + text)])
    client = MllpClient("127.0.0.1", r.port, answer_timeout_s=5)
    try:
        # The first block read answers an earlier message: the caller sees it, and the next wait
        # returns the block that came with it rather than reading the socket again.
        assert client.exchange("MSG1") == "late"
        assert client.answer() == "ACK|MSG1"
    finally:
        client.close()


def test_no_answer_times_out_and_a_closing_receiver_is_told_apart(receiver) -> None:  # type: ignore[no-untyped-def]
    silent = receiver(lambda text: [])
    client = MllpClient("127.0.0.1", silent.port, answer_timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.exchange("MSG1")
    assert 0.25 <= time.monotonic() - started < 3
    client.close()

    closing = receiver(lambda text: [b"CLOSE"])
    client = MllpClient("127.0.0.1", closing.port, answer_timeout_s=5)
    with pytest.raises(ReceiverClosed):
        client.exchange("MSG1")
    client.close()


def test_nobody_listening_raises_at_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = MllpClient("127.0.0.1", port, connect_timeout_s=2)
    with pytest.raises(ConnectionRefusedError):
        client.exchange("MSG1")
    assert not client.connected


def test_close_from_another_thread_ends_a_wait(receiver) -> None:  # type: ignore[no-untyped-def]
    silent = receiver(lambda text: [])
    client = MllpClient("127.0.0.1", silent.port, answer_timeout_s=30)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            client.exchange("MSG1")
        except BaseException as exc:  # what the waiting thread saw
            errors.append(exc)

    thread = threading.Thread(target=wait, daemon=True)
    started = time.monotonic()
    thread.start()
    assert _until(lambda: bool(silent.received))
    client.close()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    assert errors and isinstance(errors[0], OSError)


def _until(condition: Callable[[], bool], within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return condition()


def test_a_close_between_sending_and_waiting_is_not_undone_by_a_new_connection(receiver) -> None:  # type: ignore[no-untyped-def]
    """The close from another thread could land after the message went out and before the wait began: the wait
    then made a new connection and waited its whole timeout on it (a flaky test showed it)."""
    silent = receiver(lambda text: [])
    client = MllpClient("127.0.0.1", silent.port, answer_timeout_s=30)
    client.send("MSG1")
    client.close()
    started = time.monotonic()
    with pytest.raises(ReceiverClosed, match="closed before the answer came"):
        client.answer()
    assert time.monotonic() - started < 1 and not client.connected
