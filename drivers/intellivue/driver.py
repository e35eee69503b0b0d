"""The ``philips-intellivue`` driver: IntelliVue MP monitors through the MIB/RS232 Data Export port.

The monitor needs the MIB/RS232 interface option, with the port configured for Data Export at
115200 baud. The host associates, answers the MDS Create Event Report, polls numerics every
``poll_interval`` seconds (``--set poll_interval=2``) and releases the association on close. The
Data Export protocol cannot start a cuff measurement: the monitor runs its own NBP cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

from drivers.base import Decoder, PortSettings
from drivers.intellivue.decoder import IntelliVueDecoder, IntelliVueSettings
from drivers.transport.serial_source import SerialDriver, SerialSource

log = logging.getLogger(__name__)


class IntelliVueSource(SerialSource):
    """A serial source that releases the Data Export association before letting go of the port."""

    decoder: IntelliVueDecoder

    def close(self) -> None:
        """Send the release request (when associated), then close the port; idempotent."""
        if self.link.is_open:
            release = self.decoder.release()
            if release and not self.link.write(release):
                log.info("IntelliVue release could not be sent; the monitor will time the association out")
        super().close()


class IntelliVueDriver(SerialDriver):
    """Philips IntelliVue MP series, MIB/RS232 Data Export (HR, pulse, SpO2, NBP, RR, etCO2)."""

    name = "philips-intellivue"
    description = (
        "Philips IntelliVue MP monitor, MIB/RS232 Data Export (HR, PR, SpO2, NBP, RR, etCO2; monitor-run cuff)"
    )
    device_label = "Philips IntelliVue (MIB/RS232 Data Export)"
    port_settings = PortSettings(baudrate=115200)
    source_class: ClassVar[type[SerialSource]] = IntelliVueSource
    can_start_nibp = False

    def decoder(self, settings: Mapping[str, str] | None = None) -> Decoder:
        """A host-side state machine with the user's timing settings."""
        return IntelliVueDecoder(IntelliVueSettings.from_mapping(settings))
