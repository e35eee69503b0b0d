"""A monitor that answers only when polled is silent between polls by design: that silence is no lost link.

The README accepts ``--set poll_interval`` of 0.5-60 s for the IntelliVue (with a keep-alive every 6 s
between slower polls, as the public host VSCaptureMP) and of 0.1-600 s for the DINAMAP, while the link
is declared lost after 5 s without a byte. Real emulated monitors on a virtual null-modem cable.
"""

from __future__ import annotations

import time

import pytest

from drivers.base import LinkEventKind, OpenOptions
from drivers.dinamap.driver import DinamapDriver
from drivers.emulation.registry import make_device
from drivers.intellivue.driver import IntelliVueDriver
from tests.drivers.ptys import NullModem
from tests.drivers.test_bp_end_to_end import RunningEmulator


@pytest.mark.parametrize(
    ("driver", "protocol", "settings", "device_settings"),
    [
        (IntelliVueDriver, "philips-intellivue", {"poll_interval": "10"}, {"nbp_every": "300"}),
        (DinamapDriver, "ge-dinamap", {"poll_interval": "7"}, {}),
    ],
)
def test_polling_slower_than_five_seconds_is_no_lost_link(
    null_modem: NullModem,
    driver: type[IntelliVueDriver] | type[DinamapDriver],
    protocol: str,
    settings: dict[str, str],
    device_settings: dict[str, str],
) -> None:
    device = make_device(protocol, seed=4, settings=device_settings)
    with RunningEmulator(device, null_modem):  # type: ignore[arg-type]
        source = driver().open(OpenOptions(port=str(null_modem.host_link), settings=settings))
        lost = []
        readings = 0
        try:
            end = time.monotonic() + 15.0
            while time.monotonic() < end:
                readings += len(source.read(0.1))
                lost += [e for e in source.take_link_events() if e.kind is LinkEventKind.LINK_LOST]
        finally:
            source.close()
    assert readings > 0
    assert lost == [], f"{len(lost)} link_lost events from a healthy monitor polled every {settings['poll_interval']} s"
