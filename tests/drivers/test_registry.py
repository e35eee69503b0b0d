"""The driver registry: entry points, lazy import, broken third-party drivers."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint

import pytest

from drivers import registry
from drivers.base import Driver, OpenOptions, Source


class _GoodDriver(Driver):
    name = "vendor-good"
    description = "A third-party driver that loads"

    def open(self, options: OpenOptions) -> Source:
        raise NotImplementedError


@pytest.fixture
def third_party(monkeypatch: pytest.MonkeyPatch) -> None:
    good = types.ModuleType("vendor_good_driver")
    good.GoodDriver = _GoodDriver  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vendor_good_driver", good)
    real = registry._entry_points()
    fakes = [
        EntryPoint("vendor-good", "vendor_good_driver:GoodDriver", registry.GROUP),
        EntryPoint("vendor-broken", "vendor_missing_module:Driver", registry.GROUP),
        EntryPoint("vendor-wrong", "json:dumps", registry.GROUP),
    ]
    monkeypatch.setattr(registry, "_entry_points", lambda: [*real, *fakes])


def test_simulated_is_registered_through_the_entry_point_group() -> None:
    names = {ep.name: ep.value for ep in registry._entry_points()}
    assert names.get("simulated") == "drivers.simulated.driver:SimulatedDriver"


def test_listing_does_not_import_unused_drivers_until_described() -> None:
    sys.modules.pop("drivers.simulated.driver", None)
    entries = registry.registered()
    assert "simulated" in entries
    assert "drivers.simulated.driver" not in sys.modules
    cls = registry.get("simulated")
    assert cls.name == "simulated"
    assert "drivers.simulated.driver" in sys.modules


def test_unknown_driver_names_the_choices() -> None:
    with pytest.raises(registry.DriverError, match=r"unknown driver 'nope'; available: .*simulated"):
        registry.get("nope")


@pytest.mark.usefixtures("third_party")
def test_broken_third_party_drivers_are_reported_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    rows = {row.name: row for row in registry.listing()}
    assert rows["vendor-good"].ok and rows["vendor-good"].description == "A third-party driver that loads"
    assert not rows["vendor-broken"].ok
    assert "vendor_missing_module" in rows["vendor-broken"].description
    assert not rows["vendor-wrong"].ok
    assert rows["simulated"].ok
    assert "vendor-broken" in caplog.text
    with pytest.raises(registry.DriverError, match="not a Driver class"):
        registry.get("vendor-wrong")
    assert registry.get("vendor-good") is _GoodDriver


def test_cli_lists_every_driver_with_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.cli import main

    assert main(["drivers"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("simulated"))
    assert "Simulated bedside monitor" in line
