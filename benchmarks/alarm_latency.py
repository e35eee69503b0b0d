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

from pathlib import Path
from typing import Any

from benchmarks.common import Result
from benchmarks.pty_recording import ArrivalDecoder, p99_per_serial_driver, record_from_pty

P99_TARGET_MS = 50.0
RUN_S = 15.0
NAME = "pty byte -> alarm evaluated"
LOCKED = "write lock held"


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

    def note(reading: Any, at: float) -> None:
        arrived.setdefault((reading.t, reading.parameter.value), at)

    port = record_from_pty(db, name, driver_cls, seconds, lambda decoder: ArrivalDecoder(decoder, note),
                           listen, lock_held=locked)
    latencies = []
    for key, t_seen in seen:
        t_arrived = arrived.get(key)
        if t_arrived is None:
            continue
        written = port.write_before(t_arrived)
        if written is not None:
            latencies.append(t_seen - written)
    return latencies, failing[0]


def run(repeat: int) -> list[Result]:
    """p99 per serial driver, with the database free and with its write lock held by another process."""

    def measure(folder: Path, driver_name: str, driver_cls: Any, variant: str) -> tuple[list[float], str]:
        locked = variant == LOCKED
        latencies, failing = one_driver(folder, driver_name, driver_cls, RUN_S, locked)
        return latencies, f"; storage failing in {failing} turns" if locked else ""

    return p99_per_serial_driver(NAME, P99_TARGET_MS, RUN_S, "no reading reached the alarm engine", measure,
                                 variants=("", LOCKED))
