"""Every driver refuses a --set it does not have: a typo must not pass silently."""

from __future__ import annotations

import pytest

from drivers.base import OpenOptions
from drivers.registry import get
from drivers.settings import SettingsError


def test_the_simulated_monitor_refuses_a_setting_it_does_not_have() -> None:
    driver = get("simulated")()
    with pytest.raises(SettingsError, match="speeed"):
        driver.open(OpenOptions(settings={"speeed": "10"}))
