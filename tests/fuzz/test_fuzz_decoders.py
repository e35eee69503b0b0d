"""Every registered driver's decoder under random and mutated byte streams.

A decoder must never raise, and every reading it gives must be plausible (``is_plausible``),
carry a known parameter, and be stamped with the time of the bytes that completed it. Seeds are
a minute of the driver's own emulated device (see ``benchmarks.ingest``) and the public example
frames in ``../shared/protocols/`` (all of them, for every decoder: another device's frames are
garbage to this one), mutated by hypothesis, plus bytes of any kind.
Drivers are discovered from the registry, so each new driver is fuzzed as soon as it is registered.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import registry
from drivers.core.readings import Parameter, is_plausible
from tests.conftest import PROTOCOL_VECTORS


def _decoding_drivers() -> list[str]:
    names = []
    for name, entry in sorted(registry.registered().items()):
        try:
            driver_cls = entry.load()
            driver_cls().decoder()
        except NotImplementedError:
            continue  # reads no bytes (the simulator)
        except Exception:  # a broken driver is the registry's report, not a fuzz target
            continue
        names.append(name)
    return names


def _seed_frames() -> list[bytes]:
    """Every example frame in the shared vectors: hex lines as bytes, text lines with CR LF."""
    frames: list[bytes] = []
    if not PROTOCOL_VECTORS.is_dir():
        return frames
    for path in sorted(PROTOCOL_VECTORS.glob("*.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line or line.startswith("#") or "\t" not in line:
                continue
            payload = line.split("\t", 1)[1]
            try:
                frames.append(bytes.fromhex(payload))
            except ValueError:
                frames.append(payload.encode("latin-1", "replace") + b"\r\n")
    return frames


class _Recording:
    """A decoder that keeps every chunk that reaches it."""

    def __init__(self, decoder: Any, captured: list[bytes]) -> None:
        self.decoder = decoder
        self.captured = captured

    def feed(self, data: bytes, at: float) -> list[Any]:
        self.captured.append(data)
        return list(self.decoder.feed(data, at))

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.decoder, attr)


def _device_bytes(driver: str) -> list[bytes]:
    """A minute of what the driver's emulated device sends (answering the decoder where it must)."""
    from benchmarks.ingest import EmulatedSource, Hl7Device, byte_drivers
    from drivers.patient.model import SimulatedPatient

    for name, driver_cls, device_cls, _ in byte_drivers():
        if name != driver or device_cls is None:
            continue
        if device_cls is Hl7Device:
            device = Hl7Device(SimulatedPatient("probe_off", 2, 1_790_000_000.0))
        else:
            from drivers.emulation.registry import make_device

            device = make_device(name, scenario="probe_off", seed=2, start=1_790_000_000.0)
        captured: list[bytes] = []
        source = EmulatedSource(name, _Recording(driver_cls().decoder(), captured), device, prerecorded=False)
        for _ in range(60):
            source.read(0.0)
        return captured
    return []


SEEDS = _seed_frames()
DRIVERS = _decoding_drivers()
DEVICE_SEEDS = {name: _device_bytes(name) for name in DRIVERS}


@st.composite
def streams(draw: st.DrawFn, driver: str) -> list[bytes]:
    """A byte stream cut into chunks as a serial port delivers it."""
    seeds = DEVICE_SEEDS.get(driver) or SEEDS
    kind = draw(st.sampled_from(["device", "vectors", "random"]))
    pool = seeds if kind == "device" else SEEDS
    if pool and kind != "random":
        data = bytearray(b"".join(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8))))
        for _ in range(draw(st.integers(0, 6))):
            if not data:
                break
            at = draw(st.integers(0, len(data) - 1))
            action = draw(st.sampled_from(["flip", "drop", "insert", "repeat"]))
            if action == "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            elif action == "drop":
                del data[at]
            elif action == "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=4))
            else:
                data[at:at] = data[max(0, at - 8) : at]
        data = bytes(data)
    else:
        data = draw(st.binary(max_size=600))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _decoder(name: str) -> Any:
    return registry.get(name)().decoder()


@pytest.mark.skipif(not DRIVERS, reason="no driver that decodes bytes is registered yet")
@pytest.mark.parametrize("driver", DRIVERS or ["none"])
@given(data=st.data())
def test_decoder_never_raises_and_gives_only_plausible_values(driver: str, data: st.DataObject) -> None:
    chunks = data.draw(streams(driver))
    decoder = _decoder(driver)
    for index, chunk in enumerate(chunks):
        at = 1_790_000_000.0 + index
        for reading in decoder.feed(chunk, at):
            assert isinstance(reading.parameter, Parameter)
            assert is_plausible(reading.parameter, reading.value), reading
            assert reading.value is None or math.isfinite(reading.value), reading
            assert math.isfinite(reading.t)
        decoder.outgoing(at)
    counters = decoder.counters
    assert min(counters.frames_decoded, counters.frames_rejected, counters.resyncs) >= 0
