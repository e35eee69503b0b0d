"""The registry entry of the Nellcor driver: port settings and a fresh decoder per session."""

from __future__ import annotations

from drivers.nellcor.codec import NAME, PORT_SETTINGS, NellcorAsciiDecoder
from drivers.transport.serial_source import SerialDriver


class NellcorAsciiDriver(SerialDriver):
    """Registry entry: Nellcor N-595 / NPB-290 / NPB-295 data port."""

    name = NAME
    description = "Nellcor N-595 / NPB-290 / NPB-295 data port, real-time ASCII rows (SpO2, PR)"
    device_label = "Nellcor (data port)"
    port_settings = PORT_SETTINGS
    decoder_class = NellcorAsciiDecoder
