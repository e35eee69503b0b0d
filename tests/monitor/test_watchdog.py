"""The watchdog reports a stalled recorder and an ended thread; nothing once the session is closing."""

from __future__ import annotations

import threading

from monitor.watchdog import STALL_LIMIT_S, Watchdog


class FakeRecorder:
    """What the watchdog reads from a recorder."""

    def __init__(self) -> None:
        self.last_beat = 100.0
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
        now[0] = 100.0 + STALL_LIMIT_S + 0.5
        recorder.listener_beat = now[0]
        roles = {s.role: s for s in self_check.check()}
        assert set(roles) == {"device reader", "recorder"}
        assert not roles["recorder"].stopped and "has not run for 4 s" in roles["recorder"].text()
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
