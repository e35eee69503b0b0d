"""Latency from a byte written to a pseudo-terminal to the reading committed to the database.

For every serial driver with an emulated device: the device (``drivers.emulation.device``) plays the
simulated patient at real-time rate onto the master side of a new pty, answering the host where
the protocol is host-driven; the driver's real serial source reads the other side inside a
running recorder with the alarm engine and a real SQLite file. Each write to the pty is time-
stamped; the time the bytes of each numeric reading arrived is noted as the decoder gives it (a
reading may carry the device's own clock instead); the recorder's listener reports the count of
readings the store writer has committed, so the first listener call that counts a reading says
when it was on disk. Latency of a reading = that time - time of the last write at or before its
arrival (the write that completed its frame). The path to the alarm engine is measured apart, in
``benchmarks.alarm_latency``.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

from benchmarks.common import Result
from benchmarks.pty_recording import ArrivalDecoder, p99_per_serial_driver, record_from_pty
from drivers.core.clock import now as anchored_now

# Target: every reading on disk within a second of its last byte (99th percentile). Writing has its
# own thread that commits every 0.25 s; the alarm path, which never waits for the disk, is measured
# with its 50 ms target by benchmarks.alarm_latency.
P99_TARGET_MS = 1000.0
RUN_S = 20.0
NAME = "pty byte -> stored on disk"


def _one_driver(folder: Path, name: str, driver_cls: Any, seconds: float) -> tuple[list[float], int]:
    """Latencies (s) of every numeric reading stored during ``seconds`` of real-time data, and bytes dropped."""
    arrived: list[float] = []
    commits: list[tuple[float, int]] = []

    def listen(update: Any) -> None:
        commits.append((anchored_now(), update.status.stored_readings))

    port = record_from_pty(folder / f"{name}.db", name, driver_cls, seconds,
                           lambda decoder: ArrivalDecoder(decoder, lambda _reading, at: arrived.append(at)), listen)
    latencies = []
    counts = [count for _, count in commits]
    for index, t_arrived in enumerate(arrived):
        # The first listener call after which this reading is among the stored ones.
        at = bisect.bisect_left(counts, index + 1)
        if at >= len(commits):
            continue  # still pending when the run ended
        written = port.write_before(t_arrived)
        if written is not None:
            latencies.append(commits[at][0] - written)
    return latencies, port.port.dropped


def run(repeat: int) -> list[Result]:
    """p99 latency per serial driver at real-time rate (``RUN_S`` seconds each; ``repeat`` is not used)."""

    def measure(folder: Path, driver_name: str, driver_cls: Any, _variant: str) -> tuple[list[float], str]:
        latencies, dropped = _one_driver(folder, driver_name, driver_cls, RUN_S)
        return latencies, f"; {dropped} bytes dropped" if dropped else ""

    return p99_per_serial_driver(NAME, P99_TARGET_MS, RUN_S, "no reading was stored during the run", measure)
