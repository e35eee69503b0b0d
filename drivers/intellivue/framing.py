"""MIB/RS232 framing of the IntelliVue Data Export protocol: byte stuffing, FCS, abort and resync.

A frame on the wire is ``C0 | 11 01 LEN_hi LEN_lo | user data | FCS_lo FCS_hi | C1``. Between the
BOF (C0) and EOF (C1) bytes, every C0, C1 and 7D (header, data *and* FCS) is sent as ``7D (b ^ 0x20)``.
``7D C1`` aborts the frame being received; an unescaped C0 inside a frame starts a new one (the
partial frame is dropped). The FCS is CRC-16/X.25 (the PPP FCS-16 of RFC 1662) over header and user
data, sent least significant byte first.

This module is pure: :class:`Deframer` takes bytes and returns unstuffed frame contents; nothing
here touches a port or a clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

BOF: Final = 0xC0
EOF: Final = 0xC1
ESC: Final = 0x7D
ESC_XOR: Final = 0x20

PROTOCOL_ID: Final = 0x11
MESSAGE_TYPE_AS3: Final = 0x01
HEADER_LEN: Final = 4
FCS_LEN: Final = 2

# Longer than any Data Export frame we poll for (the association asks for an MTU of 1456 bytes);
# a run this long without EOF is noise, and the buffer must not grow without bound.
MAX_FRAME_BYTES: Final = 4096

_SPECIAL = frozenset({BOF, EOF, ESC})


def _fcs_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE: Final = _fcs_table()


def fcs16(data: bytes) -> int:
    """CRC-16/X.25 of ``data``: reflected polynomial 0x8408, initial 0xFFFF, final complement."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def stuff(data: bytes) -> bytes:
    """Escape the bytes that would otherwise read as BOF, EOF or an escape."""
    out = bytearray()
    for byte in data:
        if byte in _SPECIAL:
            out.append(ESC)
            out.append(byte ^ ESC_XOR)
        else:
            out.append(byte)
    return bytes(out)


def wrap(content: bytes) -> bytes:
    """A complete wire frame for ``content`` (FCS appended and stuffed with the rest)."""
    return bytes([BOF]) + stuff(content + struct.pack("<H", fcs16(content))) + bytes([EOF])


def encode_frame(user_data: bytes) -> bytes:
    """A complete wire frame carrying ``user_data`` behind the ``11 01 LEN`` header."""
    if len(user_data) > 0xFFFF:
        raise ValueError("user data longer than 65535 bytes cannot be framed")
    header = struct.pack(">BBH", PROTOCOL_ID, MESSAGE_TYPE_AS3, len(user_data))
    return wrap(header + user_data)


def check_fcs(content: bytes) -> bytes | None:
    """The frame content without its FCS, or None when the FCS does not match."""
    if len(content) < FCS_LEN:
        return None
    body, sent = content[:-FCS_LEN], content[-FCS_LEN:]
    return body if struct.pack("<H", fcs16(body)) == sent else None


class FrameError(ValueError):
    """A frame whose header does not describe its contents."""


def split_header(body: bytes) -> bytes:
    """User data of an FCS-checked frame body; raises :class:`FrameError` on an unknown header.

    The header's length field is not insisted on: the FCS already vouches for the bytes, and
    public hosts read a frame whose length field disagrees (see :func:`header_length_agrees`).
    """
    if len(body) < HEADER_LEN:
        raise FrameError(f"frame of {len(body)} bytes is shorter than its header")
    protocol, msg_type, _length = struct.unpack_from(">BBH", body)
    if protocol != PROTOCOL_ID or msg_type != MESSAGE_TYPE_AS3:
        raise FrameError(f"unknown frame header {protocol:02X} {msg_type:02X}")
    return body[HEADER_LEN:]


def header_length_agrees(body: bytes) -> bool:
    """Whether the header's length field matches the user data of an FCS-checked frame body."""
    return len(body) >= HEADER_LEN and struct.unpack_from(">H", body, 2)[0] == len(body) - HEADER_LEN


@dataclass
class FramingCounters:
    """What the deframer has thrown away, and why."""

    aborted: int = 0  # 7D C1 seen inside a frame
    restarted: int = 0  # a BOF arrived inside a frame
    stray: int = 0  # runs of bytes outside any frame
    oversize: int = 0  # frames longer than MAX_FRAME_BYTES
    bad_escape: int = 0  # 7D followed by a byte that is not a valid escape

    @property
    def resyncs(self) -> int:
        """Every time the receiver had to look for the next BOF."""
        return self.aborted + self.restarted + self.stray + self.oversize + self.bad_escape


class Deframer:
    """Incremental receiver: feeds bytes, yields the unstuffed content of each complete frame.

    The content returned still ends with its two FCS bytes; :func:`check_fcs` checks and removes
    them. A frame that is aborted, restarted, oversize or badly escaped is dropped and counted.
    """

    def __init__(self) -> None:
        self.counters = FramingCounters()
        self._buf = bytearray()
        self._in_frame = False
        self._escaped = False
        self._in_stray = False

    def reset(self) -> None:
        """Forget any partial frame (e.g. after a reconnect)."""
        self._buf.clear()
        self._in_frame = False
        self._escaped = False
        self._in_stray = False

    def _drop(self, broken: bool = True) -> None:
        self._buf.clear()
        self._in_frame = False
        self._escaped = False
        # Bytes that follow a broken frame belong to the same incident: not counted again.
        self._in_stray = broken

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return the content (with FCS) of every frame it completed."""
        frames: list[bytes] = []
        counters = self.counters
        for byte in data:
            if not self._in_frame:
                if byte == BOF:
                    self._in_frame = True
                    self._in_stray = False
                    self._buf.clear()
                elif not self._in_stray:
                    # Count a run of stray bytes once, not byte by byte.
                    self._in_stray = True
                    counters.stray += 1
                continue
            if self._escaped:
                self._escaped = False
                if byte == EOF:
                    counters.aborted += 1
                    self._drop()
                    continue
                if byte == BOF:
                    counters.restarted += 1
                    self._drop()
                    self._in_frame = True
                    continue
                unescaped = byte ^ ESC_XOR
                if unescaped not in _SPECIAL:
                    # Only C0, C1 and 7D are ever escaped; anything else means lost bytes.
                    counters.bad_escape += 1
                    self._drop()
                    continue
                self._buf.append(unescaped)
            elif byte == ESC:
                self._escaped = True
                continue
            elif byte == BOF:
                counters.restarted += 1
                self._buf.clear()
                continue
            elif byte == EOF:
                frames.append(bytes(self._buf))
                self._drop(broken=False)
                continue
            else:
                self._buf.append(byte)
            if len(self._buf) > MAX_FRAME_BYTES:
                counters.oversize += 1
                self._drop()
        return frames
