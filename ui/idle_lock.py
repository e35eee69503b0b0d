"""Auto-lock after a time without input (default 10 minutes, ``auto_lock_min`` to change it).

Any key press, mouse button, wheel or touch anywhere in the application counts as activity.
The lock itself never touches alarms: see :meth:`ui.live_window.LiveWindow.set_locked`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from monitor.config import ConfigError, UserConfig, setting

log = logging.getLogger(__name__)

DEFAULT_AUTO_LOCK_MIN = 10.0
AUTO_LOCK_RANGE_MIN = (1.0, 60.0)
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

    def __init__(self, parent: QObject, idle_ms: float, on_idle: Callable[[], None]) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(int(idle_ms))
        self.timer.timeout.connect(on_idle)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.timer.start()

    def set_idle_ms(self, idle_ms: float) -> None:
        """Change the idle time (counting again from now)."""
        self.timer.setInterval(int(idle_ms))
        self.timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Any input restarts the count; the event itself goes on untouched."""
        if event.type() in _ACTIVITY:
            self.timer.start()
        return False
