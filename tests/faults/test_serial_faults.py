"""A misbehaving serial line, for every serial driver with an emulated device, through real ptys.

One session per driver, recorded by the real serial source and recorder (alarm engine, SQLite
file) while the emulated device plays onto a virtual null-modem cable, and the cable is abused:

* garbage storms: bursts of random bytes (seeded) on the host's wire;
* unplug and replug twice (the adapter vanishes, comes back under the same name);
* the device stops in the middle of a frame and stays silent, then starts again.

Afterwards: the session is still the one session and still recording, ``link_lost`` and
``link_restored`` are on its timeline for each cut, readings arrived after the last fault, the
decoder counted what it rejected, nothing implausible was stored, and the file is sound. A second
test plays an IntelliVue in demo mode: every value flagged, none taken for the baseline or alarms.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from drivers import registry
from drivers.base import OpenOptions
from drivers.core.readings import Parameter, is_plausible
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.drivers.ptys import NullModem
from tests.faults.helpers import integrity

#: Shorter than the 5 s default to keep the test short; longer than any protocol's quiet spell
#: (IntelliVue is polled once a second).
LINK_LOST_AFTER_S = 2.5
#: Longest wait for data after a reconnection (a host-driven monitor is associated with again first).
RECOVERY_S = 30.0
SPEED = 4.0  # the device plays its patient a little faster than real time: more frames per wall second


def _serial_drivers() -> list[str]:
    try:
        from drivers.emulation.registry import devices
    except ImportError:
        return []
    names = []
    for name in sorted(devices()):
        try:
            driver_cls = registry.get(name)
        except registry.DriverError:
            continue
        if driver_cls.port_settings is not None:
            names.append(name)
    return names


def _talk_only(name: str) -> bool:
    from drivers.emulation.device import EmulatedDevice
    from drivers.emulation.registry import devices

    return devices()[name].answer is EmulatedDevice.answer


class PlayingDevice:
    """An emulated device writing onto the device end of the cable from its own thread; can be paused."""

    def __init__(self, name: str, cable: NullModem, settings: dict[str, str] | None = None) -> None:
        from drivers.emulation.registry import make_device
        from drivers.transport.device_ports import SerialDevicePort

        self.name = name
        self.settings = settings
        self.device = make_device(name, seed=11, settings=settings)
        self.port = SerialDevicePort(cable.device_path, self.device.port_settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Play (again: a device switched back on starts from now, with a fresh protocol state)."""
        from drivers.emulation.device import Emulator
        from drivers.emulation.registry import make_device

        if self._thread is not None:
            self.device = make_device(self.name, seed=12, settings=self.settings)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=Emulator(self.device, SPEED).run,
                                        args=(self.port, None, self._stop), name="emulated-device", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Fall silent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def close(self) -> None:
        """Stop and release the port."""
        self.pause()
        self.port.close()


def _half_frame(name: str) -> bytes:
    """The first half of what the device sends first (for a host-driven one, of its first answer)."""
    from benchmarks.ingest import EmulatedSource
    from drivers.emulation.registry import make_device

    captured: list[bytes] = []

    class Keep:
        def __init__(self, decoder: Any) -> None:
            self.decoder = decoder

        def feed(self, data: bytes, at: float) -> list[Any]:
            captured.append(data)
            return list(self.decoder.feed(data, at))

        def __getattr__(self, attr: str) -> Any:
            return getattr(self.decoder, attr)

    source = EmulatedSource(name, Keep(registry.get(name)().decoder()), make_device(name, seed=3), prerecorded=False)
    for _ in range(10):
        source.read(0.0)
        if captured:
            break
    whole = max(captured, key=len) if captured else b"\x01\x02\x03\x04"
    return whole[: max(1, len(whole) // 2)]


@pytest.mark.parametrize("driver", _serial_drivers() or ["none"])
def test_garbage_unplug_and_a_device_stopping_mid_frame(driver: str, cable: NullModem, db_path: Path) -> None:
    if driver == "none":
        pytest.skip("no serial driver with an emulated device yet")
    rng = random.Random(8)
    device = PlayingDevice(driver, cable)
    store = Store(db_path)
    source = registry.get(driver)().open(OpenOptions(port=str(cable.host_link), link_lost_after_s=LINK_LOST_AFTER_S))
    recorder = Recorder.new_session(store, source, driver=driver, port=str(cable.host_link), plan=SessionPlan(),
                                    nurse="RN", alarms=AlarmEngine())
    last_data: list[float] = [0.0]

    def listen(update: Any) -> None:
        if any(r.parameter is not Parameter.PLETH for r in update.readings):
            last_data[0] = time.time()

    def data_flows_again(since: float) -> float:
        """Seconds until numeric readings arrive again after ``since`` (fails after RECOVERY_S)."""
        deadline = time.time() + RECOVERY_S
        while time.time() < deadline:
            if last_data[0] > since + 0.2:
                return last_data[0] - since
            time.sleep(0.05)
        raise AssertionError(f"{driver}: no readings within {RECOVERY_S:g} s of reconnecting")

    recorder.add_listener(listen)
    session_id = recorder.session.id
    recovery: list[float] = []
    recorder.start()
    device.start()
    try:
        time.sleep(2.0)
        for _ in range(3):  # garbage storms
            cable.inject(bytes(rng.getrandbits(8) for _ in range(2048)))
            time.sleep(0.3)
        time.sleep(1.5)
        for _ in range(2):  # unplugged long enough to be noticed, then back under the same name
            cable.unplug()
            time.sleep(LINK_LOST_AFTER_S + 1.5)
            cable.replug()
            recovery.append(data_flows_again(time.time()))
            time.sleep(1.0)
        # The device stops in the middle of a frame and stays silent, then starts again.
        device.pause()
        cable.inject(_half_frame(driver))
        time.sleep(LINK_LOST_AFTER_S + 1.5)
        restarted_at = time.time()
        device.start()
        recovery.append(data_flows_again(restarted_at))
        time.sleep(1.0)
        assert recorder.running, recorder.error
    finally:
        device.close()
        recorder.stop()
        store.close()
    assert recorder.error is None
    assert integrity(db_path) == "ok"
    with Store(db_path, readonly=True) as check:
        [summary] = check.sessions()
        events = check.events(session_id)
        readings = list(check.readings(session_id))
    assert summary.id == session_id and summary.status == "closed"
    kinds = [e.kind.value for e in events]
    # Two unplugs and one silent device: each noticed and each recovered.
    assert kinds.count("link_lost") >= 3, kinds
    assert kinds.count("link_restored") >= 3, kinds
    assert all(is_plausible(r.parameter, r.value) for r in readings)
    numeric = [r for r in readings if r.parameter is not Parameter.PLETH]
    assert numeric, "nothing was recorded"
    assert any(r.t >= restarted_at for r in numeric), "no readings after the device started again"
    assert source.counters.frames_rejected + source.counters.resyncs > 0, "the garbage went unnoticed"
    print(f"{driver}: data again {', '.join(f'{x:.1f}' for x in recovery)} s after each reconnection")


def test_a_monitor_in_demo_mode_gives_no_baseline_and_no_alarms(cable: NullModem, db_path: Path) -> None:
    if "philips-intellivue" not in _serial_drivers():
        pytest.skip("no IntelliVue driver with an emulated device yet")
    device = PlayingDevice("philips-intellivue", cable, settings={"nbp_every": "2", "cuff_s": "0.5", "demo": "on"})
    store = Store(db_path)
    source = registry.get("philips-intellivue")().open(OpenOptions(port=str(cable.host_link)))
    recorder = Recorder.new_session(store, source, driver="philips-intellivue", port=None, plan=SessionPlan(),
                                    nurse="RN", alarms=AlarmEngine())
    recorder.submit("start_baseline", "RN")
    recorder.start()
    device.start()
    try:
        time.sleep(5.0)
    finally:
        device.close()
        recorder.stop()
        store.close()
    assert recorder.error is None
    with Store(db_path, readonly=True) as check:
        readings = list(check.readings(recorder.session.id))
        alarms = check.alarms(recorder.session.id)
        row = check.session_row(recorder.session.id)
    assert {r.parameter for r in readings} >= {Parameter.SPO2, Parameter.NIBP_SYS}
    assert all("demo_data" in r.status for r in readings)
    assert row["baseline"] is None, "a baseline was taken from demo values"
    assert [a for a in alarms if a.kind == "physiological"] == []
