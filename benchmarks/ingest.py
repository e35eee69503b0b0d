"""Ingest pipeline speed per driver: decode + session rules + alarms + SQLite store, against real time.

The simulated driver runs unpaced (``speed=inf``) with its pleth. A driver that reads bytes is
measured with its own emulated device (``drivers.emulation.registry.devices()``, the same name as the driver):

* a device that only talks (oximeters) has its whole 90-minute session encoded first; the timed
  part is the recorder replaying those bytes through the driver's decoder into a real SQLite file;
* a host-driven device (polling, association, cuff commands) must answer what the decoder sends,
  so it runs in the same process, in memory, and its encoding time is inside the figure.

Every driver is found in the registry, so a new one is measured as soon as it has an emulated device.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import (
    FULL_SESSION_PLAN,
    FULL_SESSION_S,
    SESSION_START,
    Result,
    alarm_engine,
    median,
    not_measured,
    record_full_session,
)
from drivers.base import LinkCounters, Source
from drivers.core.readings import Reading

REAL_TIME_TARGET = 500.0
#: Simulated seconds per recorder turn.
STEP_S = 1.0
#: Host-driven handshakes need a few exchanges before data flow; at most this many per turn.
EXCHANGES_PER_STEP = 8


class Hl7Device:
    """A monitor pushing one HL7 ORU^R01 a second over MLLP (``drivers.hl7.sender``), as timed frames.

    The HL7 driver listens on TCP rather than a serial port, so the emulator has no device for
    it; this plays the same messages its sender pushes, for the decoder alone.
    """

    def __init__(self, patient: Any, settings: Any = None) -> None:
        from drivers.patient.vitals import PatientFeed

        self.patient = patient
        self.feed = PatientFeed(patient=patient, auto_cuff_every_s=300.0, cuff_at_start=True, source="hl7-mllp")
        self._next = patient.start
        self._sent = 0
        self._cuff_sent = 0

    def frames_until(self, t: float) -> list[Any]:
        from drivers.emulation.device import Frame
        from drivers.hl7.sender import oru_message
        from drivers.transport.mllp import frame

        out = []
        while self._next <= t:
            at = self._next
            cuff = self.feed.last_cuff(at)
            if cuff is not None and cuff.number <= self._cuff_sent:
                cuff = None
            elif cuff is not None:
                self._cuff_sent = cuff.number
            self._sent += 1
            out.append(Frame(at, frame(oru_message(f"SIM{self._sent:06d}", at, self.feed.vitals(at), cuff))))
            self._next += 1.0
        return out

    def answer(self, data: bytes, t: float) -> bytes:
        return b""


def _hl7_device() -> type[Any] | None:
    try:
        import drivers.hl7.sender  # noqa: F401
    except ImportError:
        return None
    return Hl7Device


def byte_drivers() -> Iterator[tuple[str, Any, type[Any] | None, str]]:
    """Registered drivers that decode bytes: name, driver class, emulated device class (or None and why)."""
    from drivers import registry
    from drivers.emulation.registry import devices

    emulated = devices()
    for name, entry in sorted(registry.registered().items()):
        try:
            driver_cls = entry.load()
            driver_cls().decoder()
        except NotImplementedError:
            continue  # produces readings without bytes (the simulator)
        except Exception as exc:  # a broken driver is listed, not fatal
            yield name, None, None, f"driver does not load ({exc})"
            continue
        device = emulated.get(name) or (_hl7_device() if name == "hl7-mllp" else None)
        yield name, driver_cls, device, "" if device is not None else "no emulated device for this driver yet"


class EmulatedSource(Source):
    """The driver's decoder fed by its emulated device, in memory, one simulated second per read."""

    def __init__(self, name: str, decoder: Any, device: Any, *, prerecorded: bool) -> None:
        super().__init__(name, f"{name} (emulated device, in memory)")
        self.decoder = decoder
        self.emulated = device
        self._now = device.patient.start
        self._frames: list[Any] = []
        self._next = 0
        self.can_start_nibp = True
        self.counters = LinkCounters(state="connected")
        if prerecorded:
            # Talk-only devices: the whole session's bytes exist before the clock starts.
            self._frames = device.frames_until(device.patient.start + FULL_SESSION_S + 60)
        self.prerecorded = prerecorded

    def now(self) -> float:
        return self._now

    def read(self, timeout: float) -> list[Reading]:
        t = self._now + STEP_S
        out: list[Reading] = []
        if self.prerecorded:
            while self._next < len(self._frames) and self._frames[self._next].t <= t:
                frame = self._frames[self._next]
                self._next += 1
                self.counters.bytes_in += len(frame.data)
                out.extend(self.decoder.feed(frame.data, frame.t))
        else:
            for frame in self.emulated.frames_until(t):
                self.counters.bytes_in += len(frame.data)
                out.extend(self.decoder.feed(frame.data, frame.t))
            for _ in range(EXCHANGES_PER_STEP):
                request = self.decoder.outgoing(t)
                if not request:
                    break
                reply = self.emulated.answer(request, t)
                if reply:
                    self.counters.bytes_in += len(reply)
                    out.extend(self.decoder.feed(reply, t))
        self._now = t
        return out

    def request_nibp(self) -> bool:
        return bool(self.decoder.request_nibp())


def _is_talk_only(device_cls: type[Any]) -> bool:
    from drivers.emulation.device import EmulatedDevice

    return device_cls is Hl7Device or device_cls.answer is EmulatedDevice.answer


def _byte_driver_run(folder: Path, name: str, driver_cls: Any, device_cls: Any, index: int) -> tuple[float, int, int]:
    """One 90-minute session through the driver; wall seconds, numeric readings and pleth samples stored."""
    from drivers.emulation.registry import make_device
    from monitor.plan import parse_plan
    from monitor.recorder import Recorder
    from monitor.store import Store

    if device_cls is Hl7Device:
        from drivers.patient.model import SimulatedPatient

        device = Hl7Device(SimulatedPatient("normal", 1, SESSION_START))
    else:
        device = make_device(name, scenario="normal", seed=1, start=SESSION_START)
    talk_only = _is_talk_only(device_cls)
    source = EmulatedSource(name, driver_cls().decoder(), device, prerecorded=talk_only)
    path = folder / f"{name}-{index}.db"
    store = Store(path)
    try:
        start = time.perf_counter()
        recorder = Recorder.new_session(store, source, driver=name, port=None, plan=parse_plan(FULL_SESSION_PLAN),
                                        autopilot=True, nurse="RN", alarms=alarm_engine())
        # What a nurse enters before the infusion: with a patient's device the plan waits for it (without it the
        # whole session would be a baseline, not the session this measures).
        recorder.submit("checklist", user="RN", quick="f6 e t:partner c m- w80")
        recorder.submit("plan_dose", user="RN", weight_kg=80, dose_mg_per_kg=0.5)
        # Oximeters give no cuff values, so the baseline (and the plan) cannot complete: stop by the clock.
        recorder.run(until=lambda r: r.session.now >= SESSION_START + FULL_SESSION_S)
        wall = time.perf_counter() - start
        readings = store.reading_count(recorder.session.id)
        samples = int(store.db.execute("SELECT COALESCE(SUM(n), 0) FROM waveforms WHERE session_id = ?",
                                       [recorder.session.id]).fetchone()[0])
        return wall, readings, samples
    finally:
        store.close()


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
                  f"90-min session in {median(walls):.2f} s, alarms {'on' if alarm_engine() else 'absent'}",
                  ratios)


def run(repeat: int) -> list[Result]:
    """The simulated driver and every byte driver with an emulated device."""
    results = [_simulated(repeat)]
    target = f">= {REAL_TIME_TARGET:g}x real time"
    found = list(byte_drivers())
    if not found:
        results.append(not_measured("ingest byte drivers", target, "no byte-reading driver registered yet"))
    for name, driver_cls, device_cls, why in found:
        if device_cls is None:
            results.append(not_measured(f"ingest {name}", target, why))
            continue
        ratios = []
        with tempfile.TemporaryDirectory() as folder:
            for index in range(repeat):
                wall, readings, samples = _byte_driver_run(Path(folder), name, driver_cls, device_cls, index)
                ratios.append(FULL_SESSION_S / wall)
        ratio = median(ratios)
        how = "bytes encoded beforehand" if _is_talk_only(device_cls) else "device answering in memory"
        pleth = f" + {samples} pleth samples" if samples else ""
        results.append(Result(f"ingest {name}", ratio, "x", target, ratio >= REAL_TIME_TARGET,
                              f"{readings} numerics{pleth} stored; {how}", ratios))
    return results
