"""A session resumed after a crash goes on with the device it was last recorded from, with every option it had.

The devices are real drivers on pyserial's ``loop://`` port (nothing arrives, but each opens as it would on a
cable): what is checked is which device, with which settings, the resume opens and what the record says.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.core.readings import Parameter, Reading
from drivers.simulated.driver import SimulatedSource
from monitor.accounts import Principal
from monitor.alarms.engine import AlarmEngine
from monitor.app import launch
from monitor.app.device import DeviceSpec, open_device
from monitor.app.errors import AppError
from monitor.app.sessions import OtherDeviceAtResume, SessionSpec, recorded_device, resume_opening, start_session
from monitor.cli import build_parser
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import EventKind
from monitor.store import Store
from tests.conftest import abandon
from tests.monitor.records.lifecycle import advance, run

RN = Principal("RN", "nurse")
NONIN_8 = DeviceSpec(driver="nonin", port="loop://", settings={"format": "8"}, link_lost_after_s=7.5)


def _started(store: Store, device: DeviceSpec) -> Recorder:
    return start_session(SessionSpec(device=device, nurse="RN"), store, RN, lambda _w: None)


def _change(rec: Recorder, device: DeviceSpec) -> None:
    """What the window's Settings does: open the chosen spec, hand it to the recorder with the spec."""
    opened = open_device(device)
    run(rec, "change_source", source=opened.source, driver=device.driver, port=device.port, spec=device.record())


def _crash(rec: Recorder, store: Store) -> str:
    rec.step()
    rec.flush()
    sid, _last = abandon(rec, store)
    rec.source.close()
    return sid


def _resumed(store: Store, sid: str, **spec: object) -> Recorder:
    return start_session(SessionSpec(resume=sid, nurse="RN", **spec), store, RN, lambda _w: None)  # type: ignore[arg-type]


@contextlib.contextmanager
def _recording(rec: Recorder) -> Iterator[Recorder]:
    """The recorder, stopped and closed at the end as a window's close does."""
    try:
        yield rec
    finally:
        rec.stop()
        rec.close()


def _events(store: Store, sid: str, kind: EventKind) -> list[dict[str, object]]:
    return [dict(e.detail) for e in store.events(sid) if e.kind is kind]


def test_a_resume_reopens_the_device_last_recorded_from_with_its_driver_settings(db_path: Path) -> None:
    with Store(db_path) as store:
        rec = _started(store, NONIN_8)
        _change(rec, NONIN_8.switched_to("masimo-ascii", "loop://", {"baudrate": 19200}))
        sid = _crash(rec, store)
        with _recording(_resumed(store, sid, device_given=False)) as resumed:
            assert resumed.source.device.startswith("Masimo")
            assert resumed.source.settings.baudrate == 19200
            resumed.step()
            resumed.flush()
            [said] = _events(store, sid, EventKind.SESSION_RESUMED)
            assert "Masimo" in str(said["device"])
            assert said["device_spec"]["driver"] == "masimo-ascii"  # type: ignore[index]
            assert not _events(store, sid, EventKind.DEVICE_CHANGED)[1:]  # no change at the resume: same device


def test_a_nonin_in_format_8_resumes_in_format_8_with_its_link_timeout(db_path: Path) -> None:
    with Store(db_path) as store:
        sid = _crash(_started(store, NONIN_8), store)
        with _recording(_resumed(store, sid, device_given=False)) as resumed:
            assert resumed.source.decoder.data_format == 8
            assert resumed.source.link.link_lost_after_s == 7.5


def test_the_command_line_without_driver_resumes_the_recorded_device_not_the_simulator(db_path: Path) -> None:
    """``gui``/``record`` without ``--driver``: the start dialog's "Resume selected" and ``--resume``."""
    with Store(db_path) as store:
        sid = _crash(_started(store, NONIN_8), store)
        args = build_parser().parse_args(["record", "--db", str(db_path), "--resume", sid])
        spec = launch.session_spec(args)
        with _recording(start_session(spec, store, RN, lambda _w: None)) as resumed:
            assert resumed.source.decoder.data_format == 8
            assert "simulated" not in resumed.source.device.lower()


def test_another_device_is_refused_unless_confirmed_and_then_recorded_as_a_change(db_path: Path) -> None:
    with Store(db_path) as store:
        sid = _crash(_started(store, NONIN_8), store)
        simulator = DeviceSpec(driver="simulated", speed=math.inf)
        with pytest.raises(OtherDeviceAtResume, match="last recorded from nonin on loop://"):
            _resumed(store, sid, device=simulator)
        with _recording(_resumed(store, sid, device=simulator, change_device=True)) as resumed:
            resumed.step()
            resumed.flush()
            [changed] = _events(store, sid, EventKind.DEVICE_CHANGED)
            assert changed["previous_device"] == "nonin on loop:// (format=8)"
            assert changed["device"] == resumed.source.device
            [said] = _events(store, sid, EventKind.SESSION_RESUMED)
            assert said["device"] == resumed.source.device


def test_a_session_recorded_before_specs_were_kept_resumes_its_last_changed_to_device(db_path: Path) -> None:
    with Store(db_path) as store:
        source = SimulatedSource(speed=math.inf, start_time=time.time() - 600)
        rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(3, 40, 30),
                                   nurse="RN")
        rec.step()
        opened = open_device(DeviceSpec(driver="nonin", port="loop://"))
        run(rec, "change_source", source=opened.source, driver="nonin", port="loop://")
        sid = _crash(rec, store)
        assert recorded_device(store, sid) == DeviceSpec(driver="nonin", port="loop://")


class _NoSpo2(SimulatedSource):
    """The simulated monitor with its oximeter gone: everything but SpO2."""

    def read(self, timeout: float) -> list[Reading]:
        return [r for r in super().read(timeout) if r.parameter is not Parameter.SPO2]


def test_after_a_resume_a_parameter_the_session_was_watching_still_raises_no_data(db_path: Path) -> None:
    start = time.time() - 3600
    with Store(db_path) as store:
        source = SimulatedSource(speed=math.inf, start_time=start)
        rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(3, 40, 30),
                                   nurse="RN", alarms=AlarmEngine())
        advance(rec, 60)
        sid = _crash(rec, store)
        engine = AlarmEngine()
        no_oximeter = _NoSpo2(speed=math.inf, start_time=time.time())
        with _recording(Recorder.resume_session(store, no_oximeter, sid, nurse="RN", alarms=engine)) as resumed:
            advance(resumed, engine.profile.no_data_s["spo2"] + 5)
            active = [(a.condition, a.parameter) for a in engine.snapshot(resumed.session.now).active]
            assert ("no_data", "spo2") in active, active


def test_a_device_change_says_the_settings_and_a_change_back_restores_them(db_path: Path) -> None:
    """Nonin format 8 → Masimo → Nonin again, as the window's Settings does it: format 8 is back."""
    with Store(db_path) as store, _recording(_started(store, NONIN_8)) as rec:
        masimo = NONIN_8.switched_to("masimo-ascii", "loop://", {})
        _change(rec, masimo)
        _change(rec, masimo.switched_to("nonin", "loop://", {}))
        assert rec.source.decoder.data_format == 8
        rec.step()
        rec.flush()
        changes = _events(store, rec.session.id, EventKind.DEVICE_CHANGED)
        assert [c["settings"] for c in changes] == [{}, {"format": "8"}]


def test_a_device_opened_beforehand_is_the_one_resumed_with_and_a_refused_resume_lets_it_go(db_path: Path) -> None:
    """What the session browser does: choose the device (``resume_opening``), open it apart, then start the
    session with it."""
    with Store(db_path) as store:
        sid = _crash(_started(store, NONIN_8), store)
        spec = SessionSpec(resume=sid, nurse="RN", device_given=False)
        opening = resume_opening(spec, store)
        assert opening.device == NONIN_8 and opening.session_id == sid
        opened = open_device(opening.device, start_time=opening.start_time)
        with _recording(start_session(spec, store, RN, lambda _w: None, opened)) as resumed:
            assert resumed.source is opened.source
            resumed.step()
            resumed.flush()
            [said] = _events(store, sid, EventKind.SESSION_RESUMED)
            assert said["device_spec"] == NONIN_8.record()
        # The session ended meanwhile (here: its window closed): the device opened for it is let go, nothing written.
        events = len(store.events(sid))
        late = open_device(opening.device)
        closed: list[bool] = []
        close = late.source.close
        late.source.close = lambda: (closed.append(True), close())[1]  # type: ignore[method-assign]
        with pytest.raises(AppError, match="only an unfinished session can be resumed"):
            start_session(spec, store, RN, lambda _w: None, late)
        assert closed == [True] and len(store.events(sid)) == events
