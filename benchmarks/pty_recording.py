"""A recording fed from a pseudo-terminal, shared by the latency benchmarks.

An emulated device (``drivers.emulation.device``) plays the simulated patient at real-time rate onto
the master side of a new pty; the driver's real serial source reads the other side inside a running
recorder with the alarm engine and a real SQLite file. Every write to the pty is time-stamped on the
recorder's own clock, so a benchmark can tell which write completed the frame behind a reading.
"""

from __future__ import annotations

import bisect
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import Result, alarm_engine, median, not_measured, percentile

HOLD_LOCK = (
    "import sqlite3, sys, time\n"
    "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
    "c.execute('BEGIN IMMEDIATE')\n"
    "print('locked', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def serial_drivers() -> Iterator[tuple[str, Any, str]]:
    """Every byte-stream driver: its name, its class (None when it cannot be measured over a pty) and why not."""
    from benchmarks.ingest import byte_drivers

    for driver_name, driver_cls, device_cls, why in byte_drivers():
        if device_cls is None or driver_cls is None:
            yield driver_name, None, why
        elif driver_cls.port_settings is None:
            yield driver_name, None, "not a serial-port driver"
        else:
            yield driver_name, driver_cls, ""


def p99_per_serial_driver(
    name: str,
    target_ms: float,
    run_s: float,
    none_note: str,
    measure: Callable[[Path, str, Any, str], tuple[list[float], str]],
    variants: tuple[str, ...] = ("",),
) -> list[Result]:
    """One p99 result per serial driver and variant; ``measure(folder, driver, class, variant)`` gives the
    latencies (s) and a note to add. A driver that cannot be measured over a pty is listed as not measured."""
    target = f"<= {target_ms:g} ms"
    results = []
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        for driver_name, driver_cls, why in serial_drivers():
            for variant in variants:
                label = f"{name} {driver_name}{', ' + variant if variant else ''}, p99"
                if driver_cls is None:
                    results.append(not_measured(label, target, why))
                    continue
                latencies, extra = measure(folder, driver_name, driver_cls, variant)
                results.append(p99_result(label, latencies, target_ms, run_s, none_note, extra))
    return results


def p99_result(label: str, latencies: list[float], target_ms: float, run_s: float, none_note: str,
               extra: str = "") -> Result:
    """The 99th percentile of ``latencies`` (s) in ms against ``target_ms``; ``none_note`` says why there are none."""
    target = f"<= {target_ms:g} ms"
    if not latencies:
        return Result(label, None, "", target, None, none_note)
    p99 = percentile(latencies, 0.99) * 1000
    note = (f"{len(latencies)} readings over {run_s:g} s; median {median(latencies) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms{extra}")
    return Result(label, p99, "ms", target, p99 <= target_ms, note, [x * 1000 for x in latencies])


class ArrivalDecoder:
    """The driver's decoder, telling ``note`` when the bytes behind each numeric reading it gives arrived.

    Readings may carry the device's own time stamp; the arrival time is what latency is measured from.
    """

    def __init__(self, decoder: Any, note: Callable[[Any, float], None]) -> None:
        self._decoder = decoder
        self._note = note

    def feed(self, data: bytes, at: float) -> list[Any]:
        from drivers.core.readings import Parameter

        readings = list(self._decoder.feed(data, at))
        for reading in readings:
            if reading.parameter is not Parameter.PLETH:
                self._note(reading, at)
        return readings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._decoder, name)


class TimedPort:
    """A device port that remembers when each write went out, on the recorder's own clock."""

    def __init__(self, port: Any) -> None:
        from drivers.core.clock import now

        self._now = now
        self.port = port
        self.name = port.name
        self.writes: list[float] = []
        self._lock = threading.Lock()

    def write(self, data: bytes) -> int | None:
        # Stamped before the write: the reader may decode the bytes before this thread runs again.
        at = self._now()
        written = self.port.write(data)
        with self._lock:
            self.writes.append(at)
        return written

    def write_before(self, t: float) -> float | None:
        """When the last write at or before ``t`` went out (the one that completed a frame read at ``t``)."""
        index = bisect.bisect_right(self.writes, t) - 1
        return self.writes[index] if index >= 0 else None

    def read_available(self) -> bytes:
        return bytes(self.port.read_available())

    def close(self) -> None:
        self.port.close()


def hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that takes the database's write lock and keeps it for ``seconds``."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    if holder.stdout.readline().strip() != "locked":
        holder.kill()
        raise RuntimeError("the lock-holding process did not take the lock")
    return holder


def record_from_pty(db: Path, name: str, driver_cls: Any, seconds: float, wrap_decoder: Callable[[Any], Any],
                    listen: Callable[[Any], None], lock_held: bool = False) -> TimedPort:
    """Record ``seconds`` of device ``name`` played onto a pty into ``db``; returns the port with its write times.

    ``wrap_decoder`` gets the driver's decoder and returns the one to use; ``listen`` is added as the
    recorder's listener. With ``lock_held``, another process holds the database's write lock from before
    the recording starts until the device has stopped.
    """
    from drivers.base import OpenOptions
    from drivers.emulation.device import Emulator
    from drivers.emulation.registry import make_device
    from drivers.transport.device_ports import PtyDevicePort
    from monitor.plan import SessionPlan
    from monitor.recorder import Recorder
    from monitor.store import Store

    port = TimedPort(PtyDevicePort())
    emulator = Emulator(make_device(name, scenario="normal", seed=1), speed=1.0)
    stop = threading.Event()
    device_thread = threading.Thread(target=emulator.run, args=(port, None, stop), name="emulated-device")
    store = Store(db)
    holder = None
    try:
        source = driver_cls().open(OpenOptions(port=port.name))
        source.decoder = wrap_decoder(source.decoder)
        recorder = Recorder.new_session(store, source, driver=name, port=port.name, plan=SessionPlan(),
                                        nurse="RN", alarms=alarm_engine())
        recorder.add_listener(listen)
        if lock_held:
            holder = hold_write_lock(db, seconds + 10)
        recorder.start()
        device_thread.start()
        time.sleep(seconds)
    finally:
        stop.set()
        if device_thread.is_alive():
            device_thread.join(5)
        if holder is not None:
            holder.kill()
            holder.wait()
            if holder.stdout is not None:
                holder.stdout.close()
        if "recorder" in locals():
            recorder.stop()
        port.close()
        store.close()
    return port
