"""Little room left on the database's disk is said before the disk fills (a low-priority technical alarm naming
the megabytes free and about how many sessions fit), and no longer once there is room again. Before, the first word
of it was the write that failed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import EventKind
from monitor.store import Store
from monitor.store import writer as writer_module
from tests.faults.helpers import small_disk
from tests.monitor.writing import T0


def _technical(store: Store, session_id: str) -> list[str]:
    return [str(e.detail.get("condition")) for e in store.events(session_id) if e.kind is EventKind.TECHNICAL]


def test_a_small_disk_raises_the_low_space_alarm_at_once(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "16m") as folder, Store(folder / "monitor.db") as store:
        source = SimulatedSource(seed=1, speed=math.inf, start_time=T0)
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30),
                                        alarms=AlarmEngine())
        recorder.run(until=lambda r: r.session.now > T0 + 20)
        [low] = [a for a in store.alarms(recorder.session.id) if a.condition == "storage_low"]
        free_mb = int(low.message.split(": ")[1].split(" MB")[0])
        assert 8 <= free_mb <= 16, low.message
        assert low.message == (
            f"Little room left for the database: {free_mb} MB free on the disk holding {folder / 'monitor.db'} "
            f"(about {free_mb // 5} session{'s' if free_mb // 5 != 1 else ''} with the pleth); free space there "
            "before it fills"
        )
        assert low.priority.label == "low" and "storage_low" in _technical(store, recorder.session.id)


def test_room_made_during_the_session_ends_the_alarm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.recorder.LOW_SPACE_BYTES", 6 * 1024 * 1024)
    monkeypatch.setattr(writer_module, "SPACE_CHECK_S", 0.0)
    with small_disk(tmp_path / "disk", "16m") as folder, Store(folder / "monitor.db") as store:
        filler = folder / "filler"
        filler.write_bytes(b"\0" * 12 * 1024 * 1024)  # about 4 MB left
        engine = AlarmEngine()
        source = SimulatedSource(seed=1, speed=30.0, start_time=T0)
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30),
                                        alarms=engine)
        seen: list[bool] = []

        def until(r: Recorder) -> bool:
            low = any(a.condition == "storage_low" for a in engine.snapshot(r.session.now).active)
            if low and filler.exists():
                filler.unlink()  # IT frees space
            seen.append(low)
            return (not low and not filler.exists()) or r.session.now > T0 + 600

        recorder.run(until=until)
        assert True in seen and not seen[-1], "the alarm was never raised, or never ended"
        assert _technical(store, recorder.session.id)[-2:] == ["storage_low", "storage_room"]


def test_a_roomy_disk_raises_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.recorder.LOW_SPACE_BYTES", 1024 * 1024)
    with small_disk(tmp_path / "disk", "16m") as folder, Store(folder / "monitor.db") as store:
        engine = AlarmEngine()
        source = SimulatedSource(seed=1, speed=math.inf, start_time=T0)
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30),
                                        alarms=engine)
        recorder.run(until=lambda r: r.session.now > T0 + 20)
        assert "storage_low" not in _technical(store, recorder.session.id)
