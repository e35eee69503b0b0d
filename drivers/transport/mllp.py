"""MLLP, the framing HL7 v2 travels in over TCP, and the HOST:PORT addresses of its ends.

A message goes in a block: ``0x0B`` (VT), the message, ``0x1C 0x0D`` (FS CR). The listener, the
emulated sender and the clinic feed all frame and read blocks here; the sender and the feed talk
to their receiver through one :class:`MllpClient`.

A message longer than :data:`MAX_MESSAGE_BYTES` is never held whole: its first bytes are kept (so
the receiver can read its MSH and answer it), the rest is counted and dropped up to its end block.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from typing import Final

from drivers.settings import SettingsError

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 2575  # the port IANA assigned to HL7 over MLLP

MLLP_START: Final = 0x0B
START_BLOCK: Final = bytes([MLLP_START])
MLLP_END: Final = b"\x1c\x0d"
#: The longest message read (the bytes between the framing); a longer one is answered unread.
MAX_MESSAGE_BYTES: Final = 1 << 20
#: How much of the start of a message over the limit is kept: enough for its MSH (and a batch header before it).
OVERSIZE_HEAD_BYTES: Final = 4096


def parse_address(text: str | None) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``[v6]:PORT`` to a (host, port) pair; loopback by default.

    For a listener: port 0 asks the system for a free port.
    """
    if not text:
        return DEFAULT_HOST, DEFAULT_PORT
    host, port = _split(text)
    return host or DEFAULT_HOST, port


def parse_target(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[v6]:PORT`` of a receiver to connect to: both required, port 1-65535."""
    host, port = _split(text)
    if not host:
        raise SettingsError(f"'{text.strip()}' has no host; expected HOST:PORT (e.g. 127.0.0.1:2575)")
    if port == 0:
        raise SettingsError(f"port {port} is outside 1-65535")
    return host, port


def _split(text: str) -> tuple[str, int]:
    """Host (may be empty) and port of an address text; SettingsError naming what is wrong."""
    text = text.strip()
    for prefix in ("tcp://", "mllp://"):
        text = text.removeprefix(prefix)
    match = re.fullmatch(r"\[(?P<v6>[0-9a-fA-F:.]+)\]:(?P<port>[0-9]+)|(?P<host>[^:\s]*):?(?P<p2>[0-9]*)", text)
    if match is None:
        raise SettingsError(f"'{text}' is not HOST:PORT (e.g. 127.0.0.1:2575)")
    if match["v6"] is not None:
        host, port_text = match["v6"], match["port"]
    else:
        host, port_text = match["host"], match["p2"]
        if host.isascii() and host.isdigit() and not port_text:
            host, port_text = "", host
    if not port_text:
        raise SettingsError(f"'{text}' has no port; expected HOST:PORT (e.g. 127.0.0.1:2575)")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise SettingsError(f"port {port} is out of range 0-65535")
    if not host.isprintable():
        raise SettingsError(f"host {host!r} is not a host name or address")
    return host, port


def is_loopback(host: str) -> bool:
    """True for an address only this computer can reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class OversizeMessage:
    """A block longer than :data:`MAX_MESSAGE_BYTES`: its first bytes and its whole size (framing excluded)."""

    head: bytes
    size: int


class MllpDeframer:
    """Incremental MLLP receiver: ``0x0B`` message ``0x1C 0x0D``; anything between messages is skipped.

    It holds at most :data:`MAX_MESSAGE_BYTES` of a message plus one chunk; past that it keeps
    :data:`OVERSIZE_HEAD_BYTES` of the message's start and only counts the rest until its end block.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_message = False
        self._in_stray = False
        #: The start of the message over the limit being skipped, and its bytes so far (None: not skipping).
        self._over_head: bytes | None = None
        self._over_size = 0
        self.stray = 0
        self.oversize = 0

    def reset(self) -> None:
        """Forget a partial message."""
        self._buf.clear()
        self._in_message = False
        self._in_stray = False
        self._over_head = None

    def feed(self, data: bytes) -> list[bytes]:
        """Complete messages (without the framing bytes); a message over the limit is left out."""
        return [block for block in self.blocks(data) if isinstance(block, bytes)]

    def blocks(self, data: bytes) -> list[bytes | OversizeMessage]:
        """Complete messages (without the framing bytes), and each one over the limit as an :class:`OversizeMessage`,
        in the order they came."""
        out: list[bytes | OversizeMessage] = []
        buf = self._buf
        buf += data
        while buf:
            if self._over_head is not None:
                if not self._skip_oversize(out):
                    break
                continue
            if not self._in_message:
                start = buf.find(MLLP_START)
                if start != 0 and not self._in_stray:
                    self.stray += 1  # bytes between messages (a stray LF, noise), counted once a run
                    self._in_stray = True
                if start < 0:
                    buf.clear()
                    break
                del buf[: start + 1]
                self._in_message = True
                self._in_stray = False
            end = buf.find(MLLP_END)
            restart = buf.find(MLLP_START, 0, end if end >= 0 else len(buf))
            if restart >= 0:
                # A new start block before the end: the sender gave up on the previous message.
                self.stray += 1
                del buf[: restart + 1]
                continue
            if end < 0:
                if len(buf) > MAX_MESSAGE_BYTES:
                    self._begin_oversize()
                    continue
                break
            if end > MAX_MESSAGE_BYTES:
                self.oversize += 1
                out.append(OversizeMessage(bytes(buf[:OVERSIZE_HEAD_BYTES]), end))
            else:
                out.append(bytes(buf[:end]))
            del buf[: end + len(MLLP_END)]
            self._in_message = False
        return out

    def _begin_oversize(self) -> None:
        """The message in the buffer passed the limit: keep its start, skip the rest as it comes."""
        self.oversize += 1
        self._over_head = bytes(self._buf[:OVERSIZE_HEAD_BYTES])
        self._over_size = 0

    def _skip_oversize(self, out: list[bytes | OversizeMessage]) -> bool:
        """Drop the buffered bytes of the message over the limit; True when its end (or a new start) was reached."""
        buf = self._buf
        end = buf.find(MLLP_END)
        restart = buf.find(MLLP_START, 0, end if end >= 0 else len(buf))
        if restart >= 0:
            # The sender gave up on the long message and began another: nothing to answer for it.
            self.stray += 1
            del buf[: restart + 1]
            self._over_head = None
            return True
        if end < 0:
            # An FS at the very end may be the first half of the end block: keep it for the next chunk.
            keep = 1 if buf.endswith(MLLP_END[:1]) else 0
            self._over_size += len(buf) - keep
            del buf[: len(buf) - keep]
            return False
        assert self._over_head is not None
        out.append(OversizeMessage(self._over_head, self._over_size + end))
        del buf[: end + len(MLLP_END)]
        self._over_head = None
        self._in_message = False
        return True


def frame(message: str) -> bytes:
    """An HL7 message (segments separated by CR) in an MLLP block."""
    return bytes([MLLP_START]) + message.encode("utf-8") + MLLP_END


class ReceiverClosed(ConnectionError):
    """The receiver closed the connection while an answer was awaited."""


class MllpClient:
    """One TCP connection to an MLLP receiver: send a message, wait for the block that answers it.

    Answers are read with :class:`MllpDeframer` (bytes between blocks are skipped); a block that
    arrives while none is awaited is kept for the next wait, so the caller can see that it answers
    an earlier message. The connection is made when first needed and kept until :meth:`close`.
    """

    def __init__(self, host: str, port: int, *, connect_timeout_s: float = 5.0, answer_timeout_s: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self.answer_timeout_s = answer_timeout_s
        self._sock: socket.socket | None = None
        self._deframer = MllpDeframer()
        self._waiting: list[bytes] = []

    @property
    def connected(self) -> bool:
        """A connection is open."""
        return self._sock is not None

    def connect(self) -> socket.socket:
        """The open connection, made now if there is none (OSError when nobody listens)."""
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
            self._deframer.reset()
            self._waiting = []
        return self._sock

    def send(self, message: str) -> None:
        """Send one message in its MLLP block (connecting first if needed)."""
        sock = self.connect()
        sock.settimeout(self.answer_timeout_s)
        sock.sendall(frame(message))

    def answer(self) -> str:
        """The next block received, as text.

        :raises TimeoutError: none within ``answer_timeout_s``.
        :raises ReceiverClosed: the receiver closed the connection first, or :meth:`close` did (an answer is
            awaited on the connection the message went out on, never on a new one).
        """
        sock = self._sock
        if sock is None:
            raise ReceiverClosed("the connection was closed before the answer came")
        deadline = time.monotonic() + self.answer_timeout_s
        while not self._waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                raise ReceiverClosed("the receiver closed the connection")
            self._waiting += self._deframer.feed(chunk)
        return self._waiting.pop(0).decode("utf-8", "replace")

    def exchange(self, message: str) -> str:
        """Send one message and return the next block received (see :meth:`answer`)."""
        self.send(message)
        return self.answer()

    def close(self) -> None:
        """Drop the connection; idempotent, and it interrupts a wait for an answer on another thread."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
