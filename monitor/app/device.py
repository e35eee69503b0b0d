"""Opening a device from one typed spec, whether the command line or the window asks.

Every option a device is opened with sits in :class:`DeviceSpec`, so a change made in the window
(another port, other line settings) keeps the rest: driver settings given with ``--set``, the
simulator's seed, and how soon the link counts as lost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from drivers.base import OpenOptions
from monitor.app.errors import AppError

if TYPE_CHECKING:
    # Imported where used: the command line starts without loading the driver registry.
    from drivers.base import Driver, Source

#: The line settings a user may override, by the command line's words.
FLOW_CONTROLS = ("none", "xonxoff", "rtscts")


def port_overrides(baud: int | None = None, parity: str | None = None, flow: str | None = None) -> dict[str, Any]:
    """Serial line settings that differ from the driver's own (``--baud``, ``--parity``, ``--flow``)."""
    overrides: dict[str, Any] = {}
    if baud:
        overrides["baudrate"] = baud
    if parity:
        overrides["parity"] = parity
    if flow:
        overrides["xonxoff"] = flow == "xonxoff"
        overrides["rtscts"] = flow == "rtscts"
    return overrides


@dataclass(frozen=True, slots=True)
class DeviceSpec(OpenOptions):
    """Which device to read (``driver``) and every option it is opened with (the driver's own
    :class:`~drivers.base.OpenOptions`: port, ``--set`` settings, line settings, scenario, seed...)."""

    driver: str = "simulated"
    #: The driver settings each driver was last used with in this session, so that changing back to a driver
    #: restores its ``--set`` settings (a Nonin in format 8 stays in format 8 after a Masimo in between).
    settings_by_driver: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def switched_to(
        self, driver: str, port: str | None, port_overrides: Mapping[str, Any], *,
        scenario: str | None = None, speed: float | None = None, settings: Mapping[str, str] | None = None,
    ) -> DeviceSpec:
        """This spec with another driver, port or line settings (and driver ``settings`` where given); every other
        option is kept.

        Driver settings belong to their driver: another driver gets the settings it had earlier in this
        session (none: its own defaults apply), and this driver's are kept for a change back.
        """
        kept = dict(self.settings_by_driver)
        chosen = dict(self.settings)
        if driver != self.driver:
            kept[self.driver] = chosen
            chosen = dict(kept.pop(driver, {}))
        settings = chosen if settings is None else dict(settings)
        return replace(
            self,
            driver=driver,
            port=port,
            port_overrides=dict(port_overrides),
            settings=settings,
            settings_by_driver={name: given for name, given in kept.items() if given},
            scenario=self.scenario if scenario is None else scenario,
            speed=self.speed if speed is None else speed,
        )

    def settings_for(self, driver: str) -> dict[str, str]:
        """The driver settings this spec holds for ``driver`` (its own, or kept from earlier in the session)."""
        return dict(self.settings if driver == self.driver else self.settings_by_driver.get(driver, {}))

    def options(self, start_time: float | None = None) -> OpenOptions:
        """What the driver is told when it opens (``start_time`` starts a simulated clock there)."""
        return replace(self, start_time=start_time)

    def same_device(self, other: DeviceSpec) -> bool:
        """Whether ``other`` names the same device: the same driver on the same port."""
        return (self.driver, self.port or None) == (other.driver, other.port or None)

    def record(self) -> dict[str, Any]:
        """The spec as plain values for the session's timeline, from which :meth:`from_record` opens it again
        after a crash (the start time is the resumed session's own)."""
        out: dict[str, Any] = {
            "driver": self.driver, "port": self.port or "", "settings": dict(self.settings),
            "port_overrides": dict(self.port_overrides), "scenario": self.scenario, "seed": self.seed,
            "pleth": self.pleth, "link_lost_after_s": self.link_lost_after_s,
            "settings_by_driver": {k: dict(v) for k, v in self.settings_by_driver.items()},
        }
        if math.isfinite(self.speed):  # an unbounded replay speed has no JSON number
            out["speed"] = self.speed
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> DeviceSpec:
        """The spec :meth:`record` wrote (fields it does not hold take their defaults)."""
        plain = cls()
        return cls(
            driver=str(record.get("driver") or plain.driver),
            port=str(record.get("port") or "") or None,
            settings={str(k): str(v) for k, v in dict(record.get("settings") or {}).items()},
            port_overrides=dict(record.get("port_overrides") or {}),
            scenario=str(record.get("scenario") or plain.scenario),
            speed=float(record.get("speed") or plain.speed),
            seed=int(record.get("seed", plain.seed)),
            pleth=bool(record.get("pleth", plain.pleth)),
            link_lost_after_s=float(record.get("link_lost_after_s") or plain.link_lost_after_s),
            settings_by_driver={str(k): {str(a): str(b) for a, b in dict(v).items()}
                                for k, v in dict(record.get("settings_by_driver") or {}).items()},
        )

    def describe(self) -> str:
        """One line for the user, e.g. ``nonin on /dev/ttyUSB0 (format=8)``."""
        text = self.driver + (f" on {self.port}" if self.port else "")
        if self.settings:
            text += " (" + ", ".join(f"{k}={v}" for k, v in self.settings.items()) + ")"
        return text


@dataclass(frozen=True, slots=True)
class OpenedDevice:
    """A device opened from a spec: its driver and the source that delivers its data."""

    driver: type[Driver]
    source: Source
    spec: DeviceSpec


def driver_of(spec: DeviceSpec) -> type[Driver]:
    """The driver class a spec names, checked against what it needs (a port, a known scenario)."""
    from drivers import registry
    from drivers.patient.model import SCENARIOS

    try:
        driver_cls = registry.get(spec.driver)
    except registry.DriverError as exc:
        raise AppError(str(exc)) from None
    if driver_cls.needs_port and not spec.port:
        raise AppError(f"driver '{spec.driver}' needs --port (see `infusion-monitor ports`)")
    if spec.driver == "simulated" and spec.scenario not in SCENARIOS:
        raise AppError(f"unknown scenario '{spec.scenario}'; choose from {', '.join(SCENARIOS)}")
    return driver_cls


def open_device(spec: DeviceSpec, start_time: float | None = None) -> OpenedDevice:
    """Open the device a spec names; ``start_time`` starts a simulated clock there (a resumed session)."""
    driver_cls = driver_of(spec)
    try:
        source = driver_cls().open(spec.options(start_time))
    except (ValueError, OSError) as exc:
        raise AppError(f"cannot open {spec.driver}: {exc}") from None
    return OpenedDevice(driver_cls, source, spec)


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` (a driver setting, as ``--set`` takes it) split in two; ValueError names what is not one."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"'{text}' is not KEY=VALUE")
    return key.strip(), value.strip()


def settings_from_text(text: str) -> dict[str, str]:
    """Driver settings typed as ``key=value`` pairs apart by semicolons (``allow_from=10.0.4.17,10.0.4.18;
    idle_timeout=60``: a value may hold commas and spaces)."""
    return dict(key_value(part) for part in text.split(";") if part.strip())


def settings_text(settings: Mapping[str, str]) -> str:
    """Driver settings as :func:`settings_from_text` reads them."""
    return "; ".join(f"{key}={value}" for key, value in settings.items())
