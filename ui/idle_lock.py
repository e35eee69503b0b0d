"""Auto-lock after a time without input (default 10 minutes, ``auto_lock_min`` to change it).

Any key press, mouse button, wheel or touch anywhere in the application counts as activity. Time the computer
spent asleep counts as time without input: Qt's timers run on a clock that stands still during a suspend, so the
count is also kept on one that does not (:func:`drivers.core.clock.since_boot`) and checked every second.
The lock itself never touches alarms: see :meth:`ui.live_window.LiveWindow.set_locked`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from drivers.core.clock import since_boot
from monitor.config import ConfigError, UserConfig, setting

log = logging.getLogger(__name__)

DEFAULT_AUTO_LOCK_MIN = 10.0
AUTO_LOCK_RANGE_MIN = (1.0, 60.0)
#: How often the time since the last input is compared on the clock that counts a suspend.
_CHECK_MS = 1000
_ACTIVITY = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.Wheel, QEvent.Type.TouchBegin,
})


def auto_lock_minutes() -> float:
    """Minutes without input before the screen locks (INFUSION_MONITOR_AUTO_LOCK_MIN, config ``auto_lock_min``)."""
    try:
        raw = setting("auto_lock_min", None, DEFAULT_AUTO_LOCK_MIN, UserConfig.load())
        value = float(raw)
    except (ConfigError, TypeError, ValueError):
        log.warning("auto_lock_min is not a number of minutes; %g is used", DEFAULT_AUTO_LOCK_MIN)
        return DEFAULT_AUTO_LOCK_MIN
    low, high = AUTO_LOCK_RANGE_MIN
    if not low <= value <= high:
        log.warning("auto_lock_min %g is outside %g to %g minutes; %g is used", value, low, high,
                    DEFAULT_AUTO_LOCK_MIN)
        return DEFAULT_AUTO_LOCK_MIN
    return value


class IdleLock(QObject):
    """Calls ``on_idle`` after ``idle_ms`` without user input in the application."""

    def __init__(self, parent: QObject, idle_ms: float, on_idle: Callable[[], None],
                 clock: Callable[[], float] = since_boot) -> None:
        super().__init__(parent)
        self._clock = clock
        self._idle_s = idle_ms / 1000.0
        self._since = clock()
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(int(idle_ms))
        self.timer.timeout.connect(on_idle)
        self._on_idle = on_idle
        # A suspend stops the single-shot timer's clock: this one sees the time asleep once the computer wakes.
        self._check = QTimer(self)
        self._check.setInterval(_CHECK_MS)
        self._check.timeout.connect(self._check_asleep)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self._restart()
        self._check.start()

    def _restart(self) -> None:
        self._since = self._clock()
        self.timer.start()

    def _check_asleep(self) -> None:
        """Lock now when the count is running and the idle time has passed, asleep or not."""
        if self.timer.isActive() and self._clock() - self._since >= self._idle_s:
            self.timer.stop()
            self._on_idle()

    def set_idle_ms(self, idle_ms: float) -> None:
        """Change the idle time (counting again from now)."""
        self._idle_s = idle_ms / 1000.0
        self.timer.setInterval(int(idle_ms))
        self._restart()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Any input restarts the count; the event itself goes on untouched."""
        if event.type() in _ACTIVITY:
            self._restart()
        return False
