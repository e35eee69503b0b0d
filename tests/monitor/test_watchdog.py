"""The watchdog reports a stalled recorder and an ended thread; nothing once the session is closing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from drivers import registry
from drivers.base import OpenOptions
from drivers.core.readings import Reading
from monitor.recorder import Recorder
from monitor.session import SessionPlan
from monitor.store import Store
from monitor.watchdog import STALL_LIMIT_S, Watchdog


class FakeRecorder:
    """What the watchdog reads from a recorder."""

    def __init__(self) -> None:
        self.last_beat = 100.0
        self.turn_error: str | None = None
        self.listener_beat = 100.0
        self.closed = threading.Event()
        self.reader = threading.Thread(target=lambda: None, name="reader")
        self.running = threading.Event()
        self.alive = threading.Thread(target=self.running.wait, name="alive")
        self.alive.start()

    def threads(self) -> dict[str, threading.Thread]:
        return {"device reader": self.reader, "store writer": self.alive}

    def beats(self) -> dict[str, float]:
        return {"device listener": self.listener_beat}


def test_stalls_and_dead_threads_are_reported() -> None:
    now = [100.0]
    recorder = FakeRecorder()
    self_check = Watchdog(recorder, monotonic=lambda: now[0])
    try:
        recorder.reader.start()
        recorder.reader.join()  # the reader thread ended
        [stall] = self_check.check()
        assert stall.role == "device reader" and stall.stopped and "has ended" in stall.text()
        recorder.turn_error = "ValueError: bad frame"  # the last turn failed: no waiting for the limit
        roles = {s.role: s for s in self_check.check()}
        assert set(roles) == {"device reader", "recorder"}
        assert "MONITORING FAILING: the recorder's turns fail (ValueError: bad frame)" in roles["recorder"].text()
        recorder.turn_error = None
        now[0] = 100.0 + STALL_LIMIT_S + 0.5
        recorder.listener_beat = now[0]
        roles = {s.role: s for s in self_check.check()}
        assert set(roles) == {"device reader", "recorder"}
        assert not roles["recorder"].stopped and "has not run for 4 s" in roles["recorder"].text()
        recorder.turn_error = "ValueError: bad frame"  # turning, but every turn fails
        roles = {s.role: s for s in self_check.check()}
        assert "turns fail (ValueError: bad frame), none completed for 4 s" in roles["recorder"].text()
        recorder.turn_error = None
        recorder.last_beat = now[0]
        recorder.listener_beat = now[0] - STALL_LIMIT_S - 1
        roles = {s.role: s for s in self_check.check()}
        assert set(roles) == {"device reader", "device listener"}  # a thread alive but stuck counts too
        recorder.listener_beat = now[0]
        assert [s.role for s in self_check.check()] == ["device reader"]
        recorder.closed.set()  # closing on purpose: not an alarm
        assert self_check.check() == []
    finally:
        recorder.running.set()
        recorder.alive.join()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_watchdog_watches_the_serial_links_own_thread_through_a_real_recorder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "m.db")
    source = registry.get("nonin")().open(OpenOptions(port="loop://"))
    recorder = Recorder.new_session(store, source, driver="nonin", port="loop://", plan=SessionPlan(), nurse="RN")
    try:
        link = source.reader()
        assert link is not None and link.thread is not None and link.thread.is_alive()
        assert recorder.threads()["device reader"] is link.thread
        assert recorder.beats() == {"device reader": link.last_beat}

        def fail(data: bytes) -> None:
            raise RuntimeError("a fault in the link thread")

        # The link thread dies of an unexpected error: the watchdog names the device reader.
        monkeypatch.setattr(link, "_on_bytes", fail)
        assert link.write(b"\x01")  # loop:// hands it back to the reader
        link.thread.join(5)
        assert not link.thread.is_alive()
        ended = [s for s in Watchdog(recorder).check() if s.role == "device reader"]
        assert len(ended) == 1 and ended[0].stopped and "has ended" in ended[0].text()
    finally:
        recorder.stop()
        store.close()


def test_a_simulated_source_has_no_reader_thread_to_watch(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    source = registry.get("simulated")().open(OpenOptions(speed=1.0))
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(), nurse="RN")
    try:
        assert source.reader() is None
        assert "device reader" not in recorder.threads()
        assert recorder.beats() == {}
    finally:
        recorder.stop()
        store.close()


def test_a_recorder_whose_every_turn_fails_is_a_stall_and_keeps_what_it_read(tmp_path: Path) -> None:
    """An error in judging a reading, on every turn, used to count as a beat: nothing alarmed while the
    screen, the alarms and the station stopped. Now it is a stall named with its error, and the readings
    of the failing turns still go to the store."""
    store = Store(tmp_path / "m.db")
    source = registry.get("simulated")().open(OpenOptions(speed=10.0, seed=3))
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(), nurse="RN")
    watchdog = Watchdog(recorder)
    failing_since: list[float] = []

    def broken(reading: Reading) -> None:
        if not failing_since:
            failing_since.append(reading.t)
        raise ValueError("a rule that fails on every value")

    recorder.start()
    try:
        time.sleep(1.0)
        assert watchdog.check() == []
        recorder.watch.observe = broken  # type: ignore[method-assign]
        time.sleep(STALL_LIMIT_S + 1.0)
        assert recorder.running
        [stall] = watchdog.check()
        assert stall.role == "recorder" and "turns fail (ValueError: a rule that fails" in stall.text()
    finally:
        recorder.stop()
        store.close()
    with Store(tmp_path / "m.db", readonly=True) as check:
        kept = [r for r in check.readings(recorder.session.id) if r.t >= failing_since[0]]
    assert len(kept) > 100, "the failing turns' readings were dropped"
