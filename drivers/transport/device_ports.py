"""Ports seen from the device side, for the emulators: a pyserial URL or a new pseudo-terminal (``pty``)."""

from __future__ import annotations

import contextlib
import os
from typing import Protocol

from drivers.base import PortSettings
from drivers.transport.serial_link import open_port

# -- ports -------------------------------------------------------------------------------------


class DevicePort(Protocol):
    """What the emulator needs of a port."""

    def write(self, data: bytes) -> int | None: ...

    def read_available(self) -> bytes: ...

    def close(self) -> None: ...


class SerialDevicePort:
    """A pyserial port (any URL pyserial understands) seen from the device side."""

    def __init__(self, url: str, settings: PortSettings) -> None:
        self.port = open_port(url, settings, timeout=0)
        self.name = url

    def write(self, data: bytes) -> int | None:
        """Send bytes (blocks while flow control holds them back, up to the write timeout)."""
        return int(self.port.write(data) or 0)

    def read_available(self) -> bytes:
        """Whatever the host has sent."""
        waiting = self.port.in_waiting
        return bytes(self.port.read(waiting)) if waiting else b""

    def close(self) -> None:
        """Release the port."""
        self.port.close()


class PtyDevicePort:
    """A new pseudo-terminal: the emulator holds the master, the recorder opens :attr:`name`.

    Bytes that do not fit (nobody is reading the other side) are dropped, as a device with no
    cable attached would lose them.
    """

    def __init__(self) -> None:
        import tty

        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.name = os.ttyname(slave)
        # Keeping the slave open keeps the path alive while no program has it open.
        self._slave = slave
        os.set_blocking(self.master, False)
        self.dropped = 0

    def write(self, data: bytes) -> int | None:
        """Write what fits."""
        try:
            written = os.write(self.master, data)
        except BlockingIOError:
            written = 0
        self.dropped += len(data) - written
        return written

    def read_available(self) -> bytes:
        """What the host wrote."""
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        """Hang up."""
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def open_device_port(url: str, settings: PortSettings) -> SerialDevicePort | PtyDevicePort:
    """``pty`` makes a new pseudo-terminal; anything else is opened with pyserial."""
    if url == "pty":
        if not hasattr(os, "openpty"):
            raise OSError("--port pty needs a POSIX system; give a serial port or socket:// URL")
        return PtyDevicePort()
    return SerialDevicePort(url, settings)
