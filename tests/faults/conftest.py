"""Fixtures for the fault tests: a null-modem cable whose ends the tests can unplug and replug."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.drivers.ptys import NullModem


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[NullModem]:
    """A virtual null-modem cable between a device played by the test and the recorder, closed afterwards."""
    modem = NullModem(tmp_path)
    yield modem
    modem.close()
