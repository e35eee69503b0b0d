"""MLLP, the framing HL7 v2 travels in over TCP, and the HOST:PORT addresses of its ends.

A message goes in a block: ``0x0B`` (VT), the message, ``0x1C 0x0D`` (FS CR). The listener, the
emulated sender and the clinic feed all frame and read blocks here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from drivers.settings import SettingsError

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 2575  # the port IANA assigned to HL7 over MLLP

MLLP_START: Final = 0x0B
START_BLOCK: Final = bytes([MLLP_START])
MLLP_END: Final = b"\x1c\x0d"
MAX_MESSAGE_BYTES: Final = 1 << 20


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


class MllpDeframer:
    """Incremental MLLP receiver: ``0x0B`` message ``0x1C 0x0D``; anything between messages is skipped."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_message = False
        self._in_stray = False
        self.stray = 0
        self.oversize = 0

    def reset(self) -> None:
        """Forget a partial message."""
        self._buf.clear()
        self._in_message = False
        self._in_stray = False

    def feed(self, data: bytes) -> list[bytes]:
        """Complete messages (without the framing bytes)."""
        out: list[bytes] = []
        buf = self._buf
        buf += data
        while buf:
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
                    self.oversize += 1
                    self.reset()
                break
            out.append(bytes(buf[:end]))
            del buf[: end + len(MLLP_END)]
            self._in_message = False
        return out


def frame(message: str) -> bytes:
    """An HL7 message (segments separated by CR) in an MLLP block."""
    return bytes([MLLP_START]) + message.encode("utf-8") + MLLP_END
