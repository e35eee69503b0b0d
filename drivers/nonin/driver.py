"""The registry entry of the Nonin oximeters driver: port settings and a fresh decoder per session."""

from __future__ import annotations

from collections.abc import Mapping

from drivers.base import Decoder
from drivers.nonin.codec import NAME, PORT_SETTINGS, NoninDecoder, format_setting
from drivers.transport.serial_source import SerialDriver


class NoninDriver(SerialDriver):
    """Registry entry: Nonin oximeters in data format #2, #7 or #8 (``--set format=N``)."""

    name = NAME
    description = "Nonin OEM III / Xpod / 9560 oximeters, data format 2, 7 or 8 (--set format=N)"
    device_label = "Nonin"
    port_settings = PORT_SETTINGS

    def decoder(self, settings: Mapping[str, str] | None = None) -> Decoder:
        """A fresh decoder for the format chosen in the settings (default 2)."""
        return NoninDecoder(NAME, format_setting(settings))
