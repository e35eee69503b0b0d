"""Opening a device from one typed spec, whether the command line or the window asks.

Every option a device is opened with sits in :class:`DeviceSpec`, so a change made in the window
(another port, other line settings) keeps the rest: driver settings given with ``--set``, the
simulator's seed, and how soon the link counts as lost.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from drivers.base import OpenOptions
from drivers.transport.local_peer import OtherUser, TakenByOtherUser
from monitor.app.errors import AppError, OtherRecordingGoesOn

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
        """One line for the user, e.g. ``nonin on /dev/ttyUSB0 (format=8, baudrate=19200)``: its settings and the
        line settings that differ from the driver's own."""
        text = self.driver + (f" on {self.port}" if self.port else "")
        chosen = [f"{k}={v}" for k, v in (*self.settings.items(), *self.port_overrides.items())]
        if chosen:
            text += " (" + ", ".join(chosen) + ")"
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


#: What opening a port says when another program has it: pyserial's exclusive lock (a serial port), bind() (the
#: HL7 listener's address).
_TAKEN = {errno.EAGAIN: "reads", errno.EADDRINUSE: "listens on"}


class PortInUse(OtherRecordingGoesOn):
    """The device's port is read (serial) or listened on (HL7) by another program, perhaps this chair's recording."""

    def __init__(self, spec: DeviceSpec, verb: str, pid: int | None, recording: str = "",
                 other_user: OtherUser | None = None) -> None:
        if pid is not None and pid == os.getpid():
            # Telling the nurse to end "another program" that is the monitor itself would end her recording.
            text = (f"cannot open {spec.driver}: {spec.port} is this recording's own port: its running device "
                    f"{verb} it. Change the device from this window's Settings, which lets go of the port first")
        elif other_user is not None:
            # Not this chair's recording (that runs as this user): a program of another account took the port while
            # nothing listened on it, and would receive what is sent there, patient IDs included.
            text = (f"cannot open {spec.driver}: a program of another user of this computer, {other_user}, already "
                    f"{verb} {spec.port}{recording}. It would receive the messages sent there, patient IDs "
                    "included. Have that program stopped (by its user or root), then start again. To keep other "
                    "users off this port: a port below 1024 (only root may listen on those), or a firewall rule "
                    "by owner (README, HL7)")
        else:
            who = f"another program (pid {pid}: {_program(pid)})" if pid else "another program"
            text = (f"cannot open {spec.driver}: {who} already {verb} {spec.port}{recording}. Two programs cannot "
                    "share one device (each would get part of its values). If that is this chair's recording it "
                    "goes on: use its window. Otherwise end that program, or choose another port")
        super().__init__(text)
        self.spec = spec
        self.verb = verb
        self.pid = pid
        self.other_user = other_user

    def naming(self, live_sessions: Sequence[Mapping[str, Any]]) -> PortInUse:
        """This refusal naming the session of this database recorded from the port (``live_sessions``: the rows
        :meth:`~monitor.store.Store.recorded_by_others_here` gives), when one is."""
        for row in live_sessions:
            if row.get("owner_pid") == self.pid or (row.get("port") or None) == self.spec.port:
                said = f", recording session {str(row['id'])[:8]} of this database"
                return PortInUse(self.spec, self.verb, self.pid or row.get("owner_pid"), said, self.other_user)
        return self


def shares_port(running: DeviceSpec, chosen: DeviceSpec) -> bool:
    """Whether ``chosen`` would open what ``running`` holds for itself alone: the same serial port under any of
    its names, the same terminal server, the same listening TCP port. Such a device can be opened only once the
    running one has let go (see :meth:`drivers.base.Driver.held_port`)."""
    held = _held_port(running)
    return held is not None and held == _held_port(chosen)


def _held_port(spec: DeviceSpec) -> str | None:
    """What a spec's device holds for itself alone; None when nothing, or when the spec cannot be opened at all
    (its open then fails on its own, with the running device still reading)."""
    try:
        return driver_of(spec)().held_port(spec.port)
    except (AppError, ValueError):
        return None


def _lock_holder(port: str) -> int | None:
    """The process holding the advisory lock on a device file (Linux ``/proc/locks``); None when not known."""
    try:
        found = os.stat(port)
        with open("/proc/locks", encoding="ascii") as locks:
            listed = locks.read().splitlines()
    except OSError:
        return None
    inode = f"{os.major(found.st_dev):02x}:{os.minor(found.st_dev):02x}:{found.st_ino}"
    for line in listed:
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == inode and fields[4].isdigit():
            return int(fields[4])
    return None


def _program(pid: int | None) -> str:
    """The command line of process ``pid``, shortened (``?`` when it cannot be read)."""
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            words = handle.read().split(b"\0")
        text = " ".join(os.path.basename(w.decode(errors="replace")) if i == 0 else w.decode(errors="replace")
                        for i, w in enumerate(words) if w)
        return text if len(text) <= 80 else text[:77] + "..."
    return "?"


def open_device(spec: DeviceSpec, start_time: float | None = None) -> OpenedDevice:
    """Open the device a spec names; ``start_time`` starts a simulated clock there (a resumed session).

    A port another program has is refused as such (:class:`PortInUse`), not with the system's error number.
    """
    driver_cls = driver_of(spec)
    try:
        source = driver_cls().open(spec.options(start_time))
    except (ValueError, OSError) as exc:
        verb = _TAKEN.get(getattr(exc, "errno", None) or 0) if spec.port else None
        if verb is not None:
            raise PortInUse(spec, verb, _lock_holder(str(spec.port)) if verb == "reads" else None,
                            other_user=exc.user if isinstance(exc, TakenByOtherUser) else None) from None
        raise AppError(f"cannot open {spec.driver}: {exc}") from None
    return OpenedDevice(driver_cls, source, spec)


def open_device_apart(spec: DeviceSpec, start_time: float | None = None) -> Future[OpenedDevice]:
    """:func:`open_device` on a thread of its own; the future carries the opened device or why it was refused.

    Opening may take seconds (a terminal server that does not answer holds the connection attempt for pyserial's
    5 s, and the lookup of a host name has no bound at all): a caller that watches a patient meanwhile must not
    wait on it. Whoever takes the result owns the source, and closes it when it is not used after all.
    """
    future: Future[OpenedDevice] = Future()

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(open_device(spec, start_time=start_time))
        except BaseException as exc:  # a driver's own bug too: the caller says so instead of waiting for ever
            future.set_exception(exc)

    threading.Thread(target=run, name=f"open-device {spec.driver}", daemon=True).start()
    return future


def close_unused(opening: Future[OpenedDevice]) -> None:
    """Let go of a device opened apart that nobody reads after all (its window closed meanwhile): a done callback
    of :func:`open_device_apart`'s future."""
    if not opening.cancelled() and opening.exception() is None:
        opening.result().source.close()


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
