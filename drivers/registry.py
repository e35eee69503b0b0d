"""Find drivers by name through the ``infusion_monitor.drivers`` entry-point group.

Built-in drivers are declared in the same group by this package's own metadata, so a
third-party driver and a built-in one travel the same path. A driver module is imported only
when that driver is used; a broken third-party driver is reported and skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points

from drivers.base import Driver

GROUP = "infusion_monitor.drivers"

log = logging.getLogger(__name__)

# Used only when the package metadata is missing (running from a source tree without install).
_FALLBACK = {
    "simulated": "drivers.simulated.driver:SimulatedDriver",
    "masimo-ascii": "drivers.masimo.driver:MasimoAsciiDriver",
    "nonin": "drivers.nonin.driver:NoninDriver",
    "nellcor-ascii": "drivers.nellcor.driver:NellcorAsciiDriver",
    "philips-intellivue": "drivers.intellivue.driver:IntelliVueDriver",
    "ge-dinamap": "drivers.dinamap.driver:DinamapDriver",
    "hl7-mllp": "drivers.hl7.driver:Hl7MllpDriver",
}


class DriverError(Exception):
    """A driver that does not exist or cannot be loaded."""


@dataclass(frozen=True, slots=True)
class DriverEntry:
    """A registered driver, not yet imported."""

    name: str
    target: str
    distribution: str | None

    def load(self) -> type[Driver]:
        """Import the driver class."""
        module_name, _, attr = self.target.partition(":")
        try:
            obj = getattr(import_module(module_name), attr) if attr else import_module(module_name)
        except Exception as exc:
            raise DriverError(f"driver '{self.name}' ({self.target}) cannot be loaded: {exc}") from exc
        if not (isinstance(obj, type) and issubclass(obj, Driver)):
            raise DriverError(f"driver '{self.name}' ({self.target}) is not a Driver class")
        return obj


def _entry_points() -> list[EntryPoint]:
    return list(entry_points(group=GROUP))


def registered() -> dict[str, DriverEntry]:
    """Every registered driver by name, without importing any of them."""
    found: dict[str, DriverEntry] = {
        name: DriverEntry(name, target, None) for name, target in _FALLBACK.items()
    }
    for ep in _entry_points():
        dist = ep.dist.name if ep.dist is not None else None
        found[ep.name] = DriverEntry(ep.name, ep.value, dist)
    return dict(sorted(found.items()))


def get(name: str) -> type[Driver]:
    """The driver class registered under ``name``."""
    entries = registered()
    if name not in entries:
        raise DriverError(f"unknown driver '{name}'; available: {', '.join(entries)}")
    return entries[name].load()


@dataclass(frozen=True, slots=True)
class DriverListing:
    """One line of ``infusion-monitor drivers``."""

    name: str
    description: str
    ok: bool
    port_settings: str | None


def listing() -> list[DriverListing]:
    """Describe every driver; ones that fail to load are listed as broken, not fatal."""
    rows = []
    for name, entry in registered().items():
        try:
            cls = entry.load()
        except DriverError as exc:
            log.warning("%s", exc)
            rows.append(DriverListing(name, f"unavailable: {exc.__cause__ or exc}", False, None))
            continue
        settings = cls.port_settings.describe() if cls.port_settings is not None else None
        rows.append(DriverListing(name, cls.description, True, settings))
    return rows
