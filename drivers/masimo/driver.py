"""The registry entry of the Masimo driver: port settings and a fresh decoder per session."""

from __future__ import annotations

from drivers.masimo.codec import NAME, PORT_SETTINGS, MasimoAsciiDecoder
from drivers.transport.serial_source import SerialDriver


class MasimoAsciiDriver(SerialDriver):
    """Registry entry: Masimo Rad-8 / Radical-7 / Rad-97 in ASCII 1 mode."""

    name = NAME
    description = "Masimo Rad-8 / Radical-7 / Rad-97 serial output, ASCII 1 mode (SpO2, PR)"
    device_label = "Masimo (ASCII 1)"
    port_settings = PORT_SETTINGS
    decoder_class = MasimoAsciiDecoder
