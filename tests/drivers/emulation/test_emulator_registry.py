"""The one list of emulators: every driver that reads bytes has one under its own name, and each loads."""

from __future__ import annotations

import pytest

from drivers import registry
from drivers.emulation.device import EmulatedDevice, EmulatorError
from drivers.emulation.registry import EMULATORS, devices, make_device


def test_every_byte_reading_driver_has_an_emulator_of_the_same_name() -> None:
    readers = set()
    for name in registry.registered():
        try:
            registry.get(name)().decoder()
        except NotImplementedError:
            continue  # the simulated monitor reads no bytes
        readers.add(name)
    assert readers == set(EMULATORS)


def test_serial_emulators_are_devices_and_the_hl7_sender_is_a_runner() -> None:
    found = devices()
    assert set(found) == set(EMULATORS) - {"hl7-mllp"}
    assert all(issubclass(cls, EmulatedDevice) and cls.protocol == name for name, cls in found.items())
    with pytest.raises(EmulatorError, match="not played onto a serial port"):
        make_device("hl7-mllp")
    with pytest.raises(EmulatorError, match="no emulated device for 'nonin-9'"):
        make_device("nonin-9")
