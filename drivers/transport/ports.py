"""Serial ports present on this computer, for the ``ports`` command and the settings dialog.

A USB-serial adapter pulled out while the port is open, and put back before the program let go of it, comes
back under another number (``/dev/ttyUSB0`` becomes ``/dev/ttyUSB1``): a recording set to the old number then
waits for it for good, with the link-lost alarm on. udev keeps names that stay with the adapter: in
``/dev/serial/by-id`` by the adapter's make and serial number (wherever it is plugged), in
``/dev/serial/by-path`` by the USB socket. Each port found is listed with the first such name that points at it;
the link opens the name afresh at every reconnection, so it follows the adapter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

#: Where udev keeps the names that stay with a device across replugs, the better kind first.
STABLE_FOLDERS: tuple[str, ...] = ("/dev/serial/by-id", "/dev/serial/by-path")


@dataclass(frozen=True, slots=True)
class PortInfo:
    """One serial port as the operating system describes it."""

    device: str
    description: str
    hwid: str
    #: A name that stays with the adapter across replugs ("" where the system keeps none).
    stable: str = ""

    @property
    def name(self) -> str:
        """What to set as the port: the stable name where there is one."""
        return self.stable or self.device


def stable_name(device: str, folders: Sequence[str] | None = None) -> str:
    """The first link in ``folders`` (default :data:`STABLE_FOLDERS`; in name order within a folder) that points at
    ``device``; "" for none."""
    target = os.path.realpath(device)
    for folder in STABLE_FOLDERS if folders is None else folders:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink() and os.path.realpath(entry.path) == target:
                return entry.path
    return ""


def available_ports(folders: Sequence[str] | None = None) -> list[PortInfo]:
    """Every serial port pyserial can see, with its stable name, sorted by device name (empty when none)."""
    from serial.tools import list_ports

    ports = [
        PortInfo(device=p.device, description=p.description or "", hwid=p.hwid or "",
                 stable=stable_name(p.device, folders))
        for p in list_ports.comports()
    ]
    return sorted(ports, key=lambda p: p.device)
