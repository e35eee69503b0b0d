"""The chair's computer sleeps (a laptop's lid closed) while the window waits for input: the auto-lock counts
the time asleep, as Linux's clocks do across a suspend (clock_gettime(2): CLOCK_BOOTTIME and the wall clock
go on, CLOCK_MONOTONIC does not)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from PySide6.QtWidgets import QWidget

from ui.idle_lock import IdleLock

SLEPT_S = 20 * 60.0


@pytest.fixture
def asleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Set the item to the seconds the computer slept: the boot-time and wall clocks count them."""
    slept = [0.0]
    real_gettime, real_time = time.clock_gettime, time.time

    def gettime(clock: int) -> float:
        return real_gettime(clock) + (slept[0] if clock in (time.CLOCK_BOOTTIME, time.CLOCK_REALTIME) else 0.0)

    monkeypatch.setattr(time, "clock_gettime", gettime)
    monkeypatch.setattr(time, "time", lambda: real_time() + slept[0])
    return slept


def test_a_window_left_idle_across_a_sleep_longer_than_the_auto_lock_time_locks_when_it_wakes(
        qtbot: Any, asleep: list[float]) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    locked: list[bool] = []
    IdleLock(widget, 10 * 60_000, lambda: locked.append(True))
    asleep[0] = SLEPT_S  # nobody touched it for 20 minutes, the computer asleep
    qtbot.wait(2500)
    assert locked, "20 minutes without input (asleep) and the screen is still unlocked"


def test_input_after_waking_restarts_the_count(qtbot: Any, asleep: list[float]) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    locked: list[bool] = []
    lock = IdleLock(widget, 10 * 60_000, lambda: locked.append(True))
    asleep[0] = 5 * 60.0  # half the time asleep: not yet
    qtbot.wait(1500)
    assert not locked
    lock.set_idle_ms(10 * 60_000)  # counting again from now
    asleep[0] = 12 * 60.0  # 7 minutes more: still under the time since it restarted
    qtbot.wait(1500)
    assert not locked
