"""The one list of emulated devices, and ``infusion-monitor emulate``'s runner.

Every device folder has its emulator (``drivers/<device>/emulator.py``); :data:`EMULATORS` names
them, under the same name as the driver that reads them, without importing them (the device
folders build on this package, not the other way round). A serial device is an
:class:`~drivers.emulation.device.EmulatedDevice` played onto a port by :func:`play_on_port`; a
device that is not a serial port (the HL7 sender, a TCP client) gives its own runner function.
"""

from __future__ import annotations

import shlex
import signal
import threading
import time
from collections.abc import Mapping
from importlib import import_module
from typing import Final, TextIO, cast

from drivers.emulation.device import EmulatedDevice, EmulationRequest, Emulator, EmulatorError, Runner
from drivers.patient.model import SimulatedPatient, check_scenario
from drivers.transport.device_ports import open_device_port
from drivers.transport.serial_link import PORT_ERRORS

#: Emulator name (the driver's name) -> ``module:attribute``: an EmulatedDevice class or a runner.
EMULATORS: Final[dict[str, str]] = {
    "masimo-ascii": "drivers.masimo.emulator:MasimoDevice",
    "nellcor-ascii": "drivers.nellcor.emulator:NellcorDevice",
    "nonin": "drivers.nonin.emulator:NoninDevice",
    "philips-intellivue": "drivers.intellivue.emulator:IntelliVueDevice",
    "ge-dinamap": "drivers.dinamap.emulator:DinamapDevice",
    "hl7-mllp": "drivers.hl7.sender:emulate_sender",
}


def _load(name: str) -> object:
    if name not in EMULATORS:
        raise EmulatorError(f"no emulated device for '{name}'; available: {', '.join(sorted(EMULATORS))}")
    module_name, _, attr = EMULATORS[name].partition(":")
    return getattr(import_module(module_name), attr)


def _is_device(target: object) -> bool:
    return isinstance(target, type) and issubclass(target, EmulatedDevice)


def devices() -> dict[str, type[EmulatedDevice]]:
    """Every emulated serial device by name (the emulators that play bytes onto a port)."""
    found: dict[str, type[EmulatedDevice]] = {}
    for name in EMULATORS:
        target = _load(name)
        if isinstance(target, type) and issubclass(target, EmulatedDevice):
            found[name] = target
    return found


def make_device(
    protocol: str, scenario: str = "normal", seed: int = 1, start: float | None = None,
    settings: Mapping[str, str] | None = None,
) -> EmulatedDevice:
    """A serial device for ``protocol`` playing a new simulated patient from ``start`` (default: now)."""
    target = _load(protocol)
    if not (isinstance(target, type) and issubclass(target, EmulatedDevice)):
        raise EmulatorError(f"'{protocol}' is not played onto a serial port")
    try:
        patient = SimulatedPatient(check_scenario(scenario), seed, time.time() if start is None else start)
        return target(patient, settings)
    except ValueError as exc:
        raise EmulatorError(str(exc)) from None


def record_command(request: EmulationRequest, device: EmulatedDevice, port: str) -> str:
    """The ``record`` command that reads ``device`` on ``port``: the settings and line overrides it must share."""
    words = ["infusion-monitor", "record", "--driver", request.protocol, "--port", port]
    for key in device.reader_settings:
        if key in request.settings:
            words += ["--set", f"{key}={request.settings[key]}"]
    overrides = request.port_overrides
    if "baudrate" in overrides:
        words += ["--baud", str(overrides["baudrate"])]
    if "parity" in overrides:
        words += ["--parity", str(overrides["parity"])]
    if "xonxoff" in overrides or "rtscts" in overrides:
        flow = "rtscts" if overrides.get("rtscts") else "xonxoff" if overrides.get("xonxoff") else "none"
        words += ["--flow", flow]
    return " ".join(shlex.quote(w) for w in words)


def play_on_port(request: EmulationRequest, out: TextIO, stop: threading.Event) -> None:
    """Play a serial device onto ``request.port`` (a pyserial URL or ``pty``)."""
    device = make_device(request.protocol, request.scenario, request.seed, settings=request.settings)
    emulator = Emulator(device, request.speed)
    settings = device.port_settings.with_overrides(request.port_overrides)
    try:
        port = open_device_port(request.port, settings)
    except PORT_ERRORS as exc:
        raise EmulatorError(f"cannot open {request.port}: {exc}") from None
    out.write(f"emulating {device.describe()} on {port.name} ({settings.describe()}), "
              f"scenario {request.scenario}, speed {request.speed:g}x\n")
    if request.port == "pty":
        out.write(f"connect with: {record_command(request, device, port.name)}\n")
    out.flush()
    try:
        report = emulator.run(port, request.duration_s, stop)
    except PORT_ERRORS as exc:
        raise EmulatorError(f"{port.name} failed: {exc}") from None
    finally:
        port.close()
    out.write(f"sent {report.frames} frames ({report.bytes_out} bytes)\n")


def emulate(request: EmulationRequest, out: TextIO) -> None:
    """Run the emulator ``request`` names until its duration ends or SIGINT/SIGTERM; EmulatorError for bad input."""
    target = _load(request.protocol)
    runner = play_on_port if _is_device(target) else cast(Runner, target)
    stop = threading.Event()
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        runner(request, out, stop)
    finally:
        for sig, old in handlers.items():
            signal.signal(sig, old)
