"""allow_from names sender addresses; an entry no connection can ever match is refused, not kept in silence."""

from __future__ import annotations

import pytest

from drivers.hl7.listener import Hl7Settings
from drivers.settings import SettingsError


@pytest.mark.parametrize("entry", ["monitor-3.clinic.local", "10.0.4.256", "10.0.4"])
def test_an_allow_from_entry_that_is_not_an_address_is_refused(entry: str) -> None:
    with pytest.raises(SettingsError, match="allow_from"):
        Hl7Settings.from_options("0.0.0.0:2575", {"allow_from": f"10.0.4.17,{entry}"})


def test_addresses_are_taken() -> None:
    settings = Hl7Settings.from_options("0.0.0.0:2575", {"allow_from": "10.0.4.17, fe80::1"})
    assert settings.allow_from == frozenset({"10.0.4.17", "fe80::1"})
