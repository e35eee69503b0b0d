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
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Result, alarm_engine, median, not_measured, percentile

P99_TARGET_MS = 50.0
RUN_S = 15.0
NAME = "pty byte -> alarm evaluated"

HOLD_LOCK = (
    "import sqlite3, sys, time\n"
    "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
    "c.execute('BEGIN IMMEDIATE')\n"
    "print('locked', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


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


class AnchoredTimedPort:
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


def one_driver(folder: Path, name: str, driver_cls: Any, seconds: float, locked: bool) -> tuple[list[float], int]:
    """Latencies (s) from pty write to alarm evaluation for every numeric reading, and storage-failing turns."""
    from drivers.base import OpenOptions
    from drivers.core.clock import now
    from drivers.core.readings import Parameter
    from drivers.emulation.device import Emulator
    from drivers.emulation.registry import make_device
    from drivers.transport.device_ports import PtyDevicePort
    from monitor.plan import SessionPlan
    from monitor.recorder import Recorder
    from monitor.store import Store

    port = AnchoredTimedPort(PtyDevicePort())
    emulator = Emulator(make_device(name, scenario="normal", seed=1), speed=1.0)
    stop = threading.Event()
    device_thread = threading.Thread(target=emulator.run, args=(port, None, stop), name="emulated-device")
    db = folder / f"{name}-{'locked' if locked else 'free'}.db"
    store = Store(db)
    arrived: dict[tuple[float, str], float] = {}
    seen: list[tuple[tuple[float, str], float]] = []
    failing = [0]
    holder = None

    def listen(update: Any) -> None:
        at = now()
        seen.extend(((r.t, r.parameter.value), at) for r in update.readings if r.parameter is not Parameter.PLETH)
        if not update.status.storage_ok:
            failing[0] += 1

    try:
        source = driver_cls().open(OpenOptions(port=port.name))
        source.decoder = KeyedTimedDecoder(source.decoder, arrived)
        recorder = Recorder.new_session(store, source, driver=name, port=port.name, plan=SessionPlan(),
                                        nurse="RN", alarms=alarm_engine())
        recorder.add_listener(listen)
        if locked:
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
    from benchmarks.ingest import byte_drivers

    results = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for driver_name, driver_cls, device_cls, why in byte_drivers():
            for locked in (False, True):
                label = f"{NAME} {driver_name}{', write lock held' if locked else ''}, p99"
                if device_cls is None or driver_cls is None:
                    results.append(not_measured(label, target, why))
                    continue
                if driver_cls.port_settings is None:
                    results.append(not_measured(label, target, "not a serial-port driver"))
                    continue
                latencies, failing = one_driver(folder, driver_name, driver_cls, RUN_S, locked)
                if not latencies:
                    results.append(Result(label, None, "", target, None, "no reading reached the alarm engine"))
                    continue
                p99 = percentile(latencies, 0.99) * 1000
                note = (f"{len(latencies)} readings over {RUN_S:g} s; median {median(latencies) * 1000:.1f} ms, "
                        f"max {max(latencies) * 1000:.1f} ms"
                        + (f"; storage failing in {failing} turns" if locked else ""))
                results.append(Result(label, p99, "ms", target, p99 <= P99_TARGET_MS, note,
                                      [x * 1000 for x in latencies]))
    return results
