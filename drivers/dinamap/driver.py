"""The registry entry of the GE DINAMAP driver: port settings and a fresh decoder per session."""

from __future__ import annotations

from collections.abc import Mapping

from drivers.base import Decoder
from drivers.dinamap.codec import PORT_SETTINGS, SOURCE_NAME, DinamapDecoder, DinamapSettings
from drivers.transport.serial_source import SerialDriver


class DinamapDriver(SerialDriver):
    """GE / Critikon DINAMAP host communications: NIBP started by the host, SpO2 and pulse rate."""

    name = SOURCE_NAME
    description = "GE/Critikon DINAMAP host comms (NIBP started on schedule, SpO2, pulse rate; model=pro|v100)"
    device_label = "GE DINAMAP (host communications)"
    port_settings = PORT_SETTINGS
    can_start_nibp = True

    def decoder(self, settings: Mapping[str, str] | None = None) -> Decoder:
        """A polling decoder with the user's settings."""
        return DinamapDecoder(DinamapSettings.from_mapping(settings))
