"""The registry entry of the HL7 v2 / MLLP listener."""

from __future__ import annotations

from collections.abc import Mapping

from drivers.base import Decoder, Driver, OpenOptions, Source
from drivers.hl7.gate import SessionGate
from drivers.hl7.listener import SOURCE_NAME, Hl7Decoder, Hl7MllpSource, Hl7Settings
from drivers.transport.mllp import DEFAULT_HOST, DEFAULT_PORT, parse_address


class Hl7MllpDriver(Driver):
    """HL7 v2 ORU^R01 over MLLP from monitors and gateways (Mindray, Comen, Edan, GE...)."""

    name = SOURCE_NAME
    description = (
        "HL7 v2 ORU^R01 over MLLP/TCP listener (monitors and gateways); --port HOST:PORT, loopback default"
    )
    needs_port = False
    default_port = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
    port_settings = None
    can_start_nibp = False

    def decoder(self, settings: Mapping[str, str] | None = None) -> Decoder:
        """A decoder for one connection (times read in the ``timezone`` setting)."""
        given = Hl7Settings.from_options(None, settings)
        return Hl7Decoder(given.tz, codes=given.codes, gate=SessionGate(given.allow_senders))

    def held_port(self, port: str | None) -> str | None:
        """The TCP port listened on, whatever the address: a listener on every address (``0.0.0.0``) and one on
        loopback cannot both have the same port number. Port 0 (the system picks a free one) holds nothing."""
        _host, number = parse_address(port)
        return f"tcp:{number}" if number else None

    def open(self, options: OpenOptions) -> Source:
        """Start listening on the address given as ``--port``."""
        source = Hl7MllpSource(
            Hl7Settings.from_options(options.port, options.settings), link_lost_after_s=options.link_lost_after_s
        )
        source.open()
        return source
