"""Ingest pipeline speed per driver: decode + session rules + alarms + SQLite store, against real time.

The simulated driver runs unpaced (``speed=inf``) with its pleth. A driver that reads bytes is
measured on bytes its own encoder made from a simulated 90-minute session: a source replays them
through the driver's decoder into the recorder as fast as it can, into a real SQLite file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import Result, alarm_engine, median, not_measured, record_full_session

REAL_TIME_TARGET = 500.0


def encoders() -> Iterator[tuple[str, Callable[..., Any] | None, str]]:
    """Every registered driver that reads bytes, with its session encoder (None and why when it has none)."""
    from drivers import registry

    for name, entry in sorted(registry.registered().items()):
        if name == "simulated":
            continue
        try:
            driver_cls = entry.load()
        except Exception as exc:  # a broken driver is listed, not fatal
            yield name, None, f"driver does not load ({exc})"
            continue
        encode = getattr(driver_cls, "encode_session", None)
        if encode is None:
            yield name, None, "driver has no encoder"
        else:
            yield name, encode, ""


def _simulated(repeat: int) -> Result:
    ratios = []
    walls = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(repeat):
            _, wall, covered = record_full_session(Path(folder) / f"ingest{index}.db", pleth=True)
            ratios.append(covered / wall)
            walls.append(wall)
    ratio = median(ratios)
    return Result("ingest simulated (numerics + 75 Hz pleth)", ratio, "x", f">= {REAL_TIME_TARGET:g}x real time",
                  ratio >= REAL_TIME_TARGET,
                  f"90-min session in {median(walls):.2f} s wall, alarms {'on' if _has_alarms() else 'absent'}",
                  ratios)


def _has_alarms() -> bool:
    return alarm_engine() is not None


def run(repeat: int) -> list[Result]:
    """The simulated driver and every byte driver that has an encoder."""
    results = [_simulated(repeat)]
    byte_drivers = list(encoders())
    if not byte_drivers:
        results.append(not_measured("ingest byte drivers", f">= {REAL_TIME_TARGET:g}x real time",
                                    "no byte-reading driver registered yet"))
    for name, encode, why in byte_drivers:
        if encode is None:
            results.append(not_measured(f"ingest {name}", f">= {REAL_TIME_TARGET:g}x real time", why))
    return results
