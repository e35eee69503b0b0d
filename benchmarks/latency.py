"""Latency from a byte written to a pseudo-terminal to the reading stored with its alarms evaluated.

Needs a serial source (``drivers.serial_source``) and a byte driver with an encoder.
"""

from __future__ import annotations

from benchmarks.common import Result, not_measured

P99_TARGET_MS = 50.0


def run(repeat: int) -> list[Result]:
    """p99 latency at real-time rate per byte driver."""
    try:
        import drivers.serial_source  # noqa: F401
    except ImportError:
        return [not_measured("pty byte -> stored + alarms, p99", f"<= {P99_TARGET_MS:g} ms",
                             "no serial source on this branch yet")]
    from benchmarks.ingest import encoders

    if not any(encode for _, encode, _ in encoders()):
        return [not_measured("pty byte -> stored + alarms, p99", f"<= {P99_TARGET_MS:g} ms",
                             "no byte driver with an encoder yet")]
    raise NotImplementedError("latency measurement is written when a byte driver with an encoder exists")
