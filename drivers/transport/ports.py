"""Serial ports present on this computer, for the ``ports`` command and the settings dialog."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PortInfo:
    """One serial port as the operating system describes it."""

    device: str
    description: str
    hwid: str


def available_ports() -> list[PortInfo]:
    """Every serial port pyserial can see, sorted by device name (empty when there are none)."""
    from serial.tools import list_ports

    ports = [
        PortInfo(device=p.device, description=p.description or "", hwid=p.hwid or "")
        for p in list_ports.comports()
    ]
    return sorted(ports, key=lambda p: p.device)
