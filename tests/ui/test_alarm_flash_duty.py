"""The alarm bar's flash as the nurse sees it, while the alarm's text follows the newest value.

IEC 60601-1-8 Table 2 (CLINICAL.md): high 1.4-2.8 Hz, medium 0.4-0.8 Hz, duty cycle 20-60 %.
The row's background colour is sampled from the rendered widget on a real event loop while the
alarm's current value changes once a second, as a 1 Hz monitor's values do.
"""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmSnapshot, Priority
from ui import theme
from ui.alarm_bar import AlarmBar

T0 = 1_790_000_000.0


def _alarm(priority: Priority, current: float) -> AlarmRecord:
    base = "SpO2 86 < 90 %"
    return AlarmRecord("a1", "spo2_low", "spo2", priority, AlarmKind.PHYSIOLOGICAL, base, T0, value=86.0,
                       limit=90.0, peak_value=86.0, current=current,
                       display=f"{base} (worst); now {current:g} %")


def _measure(qtbot: Any, priority: Priority, seconds: float = 8.0) -> tuple[float, float]:
    """Lit fraction and flashes per second of the first row, sampled from its pixels."""
    bar = AlarmBar()
    qtbot.addWidget(bar)
    bar.resize(1200, 120)
    bar.show()
    values = iter([87.0, 88.0] * 100)
    bar.show_snapshot(AlarmSnapshot((_alarm(priority, next(values)),), None, False, False, priority), T0)
    row = bar.rows[0]
    lit_colour = QColor(theme.ALARM_COLOURS[priority])

    # A reading comes once a second; its phase has nothing to do with the flash clock's. Here each
    # one arrives 20 ms after the row went dark (any phase inside the dark half shows the same).
    last = {"at": -10_000}

    def reading(elapsed_ms: int) -> None:
        if not row.lit and elapsed_ms - last["at"] >= 1000:
            last["at"] = elapsed_ms
            # Tied to the bar: a reading still pending when the test ends dies with it.
            QTimer.singleShot(20, bar, lambda: bar.show_snapshot(
                AlarmSnapshot((_alarm(priority, next(values)),), None, False, False, priority), T0 + 1))

    bar.flashed.connect(reading)

    samples: list[tuple[float, bool]] = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        QApplication.processEvents()
        image = row.grab().toImage()
        samples.append((time.monotonic() - start, image.pixelColor(3, image.height() // 2) == lit_colour))
        qtbot.wait(10)
    bar.flashed.disconnect(reading)
    qtbot.wait(50)  # the last pending reading arrives while the bar is still there
    lit_time = sum(t1 - t0 for (t0, lit), (t1, _) in pairwise(samples) if lit)
    onsets = [t for (_, a), (t, b) in pairwise(samples) if b and not a]
    total = samples[-1][0] - samples[0][0]
    return lit_time / total, (len(onsets) - 1) / (onsets[-1] - onsets[0])


@pytest.mark.parametrize("priority", [Priority.HIGH, Priority.MEDIUM])
def test_flash_duty_cycle_stays_within_iec_range_while_the_value_changes(qtbot: Any, priority: Priority) -> None:
    duty, rate = _measure(qtbot, priority)
    low_hz, high_hz = (1.4, 2.8) if priority is Priority.HIGH else (0.4, 0.8)
    print(f"{priority.name}: duty {duty:.0%}, {rate:.2f} flashes/s")
    assert 0.20 <= duty <= 0.60, f"{priority.name} flash duty cycle {duty:.0%} outside 20-60 %"
    assert low_hz <= rate <= high_hz, f"{priority.name} flash rate {rate:.2f} Hz outside {low_hz}-{high_hz} Hz"
