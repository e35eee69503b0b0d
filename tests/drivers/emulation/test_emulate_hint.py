"""`infusion-monitor emulate --port pty` prints the `record` command to connect with; followed as printed, it
must read the emulated device (a Nonin in format 7 or 8, a DINAMAP V100)."""

from __future__ import annotations

import io
import shlex
import threading
import time

import pytest

from drivers import registry
from drivers.emulation.device import EmulationRequest
from drivers.emulation.registry import emulate, make_device
from monitor.cli import build_parser


def _connect_with(protocol: str, settings: dict[str, str]) -> str:
    out = io.StringIO()
    request = EmulationRequest(protocol=protocol, port="pty", duration_s=0.2, settings=settings)
    worker = threading.Thread(target=emulate, args=(request, out))
    worker.start()
    worker.join(10)
    line = next(x for x in out.getvalue().splitlines() if x.startswith("connect with: "))
    return line.removeprefix("connect with: ")


@pytest.mark.parametrize("data_format", ["7", "8"])
def test_the_printed_record_command_reads_a_nonin_in_another_format(data_format: str) -> None:
    command = _connect_with("nonin", {"format": data_format})
    argv = shlex.split(command)[1:]  # after "infusion-monitor"
    args = build_parser().parse_args(argv)
    decoder = registry.get("nonin")().decoder(dict(args.settings or []))
    device = make_device("nonin", settings={"format": data_format}, start=time.time())
    readings = []
    for frame in device.frames_until(device.patient.start + 10):
        readings += decoder.feed(frame.data, frame.t)
    assert any(r.value is not None for r in readings), f"{command!r} decodes nothing from format {data_format}"


def test_the_printed_record_command_names_the_dinamap_model() -> None:
    command = _connect_with("ge-dinamap", {"model": "v100"})
    assert "model=v100" in command, command
