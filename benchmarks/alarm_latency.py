"""Latency from a byte written to a pseudo-terminal to the reading evaluated by the alarm engine and shown.

For every serial driver with an emulated device, twice: with the database free, and with another
process holding SQLite's write lock (``BEGIN IMMEDIATE``) for the whole run. The device plays the
simulated patient at real-time rate onto a pty; the driver's real serial source reads the other
side inside a running recorder with the alarm engine. A reading's latency is the time from the
write that completed its frame to the recorder's listener call for the turn that observed it: by
then the alarm engine has seen the value and ticked, and the screen has its update. The store
write happens on the writer thread and is not waited for; that is the point being measured.
"""

from __future__ import annotations

import bisect
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Result, not_measured
from benchmarks.pty_recording import p99_result, record_from_pty, serial_drivers

P99_TARGET_MS = 50.0
RUN_S = 15.0
NAME = "pty byte -> alarm evaluated"


class KeyedTimedDecoder:
    """The driver's decoder, noting when the bytes behind each numeric reading arrived, by (time, parameter)."""

    def __init__(self, decoder: Any, arrived: dict[tuple[float, str], float]) -> None:
        self._decoder = decoder
        self._arrived = arrived

    def feed(self, data: bytes, at: float) -> list[Any]:
        from drivers.core.readings import Parameter

        readings = list(self._decoder.feed(data, at))
        for r in readings:
            if r.parameter is not Parameter.PLETH:
                self._arrived.setdefault((r.t, r.parameter.value), at)
        return readings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._decoder, name)


def one_driver(folder: Path, name: str, driver_cls: Any, seconds: float, locked: bool) -> tuple[list[float], int]:
    """Latencies (s) from pty write to alarm evaluation for every numeric reading, and storage-failing turns."""
    from drivers.core.clock import now
    from drivers.core.readings import Parameter

    arrived: dict[tuple[float, str], float] = {}
    seen: list[tuple[tuple[float, str], float]] = []
    failing = [0]

    def listen(update: Any) -> None:
        at = now()
        seen.extend(((r.t, r.parameter.value), at) for r in update.readings if r.parameter is not Parameter.PLETH)
        if not update.status.storage_ok:
            failing[0] += 1

    db = folder / f"{name}-{'locked' if locked else 'free'}.db"
    port = record_from_pty(db, name, driver_cls, seconds, lambda decoder: KeyedTimedDecoder(decoder, arrived),
                           listen, lock_held=locked)
    latencies = []
    for key, t_seen in seen:
        t_arrived = arrived.get(key)
        if t_arrived is None:
            continue
        write_index = bisect.bisect_right(port.writes, t_arrived) - 1
        if write_index >= 0:
            latencies.append(t_seen - port.writes[write_index])
    return latencies, failing[0]


def run(repeat: int) -> list[Result]:
    """p99 per serial driver, with the database free and with its write lock held by another process."""
    target = f"<= {P99_TARGET_MS:g} ms"
    try:
        from drivers.transport.device_ports import PtyDevicePort  # noqa: F401
    except ImportError:
        return [not_measured(f"{NAME}, p99", target, "no emulator on this branch")]

    results = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for driver_name, driver_cls, why in serial_drivers():
            for locked in (False, True):
                label = f"{NAME} {driver_name}{', write lock held' if locked else ''}, p99"
                if driver_cls is None:
                    results.append(not_measured(label, target, why))
                    continue
                latencies, failing = one_driver(folder, driver_name, driver_cls, RUN_S, locked)
                results.append(p99_result(label, latencies, P99_TARGET_MS, RUN_S, "no reading reached the alarm engine",
                                          f"; storage failing in {failing} turns" if locked else ""))
    return results
