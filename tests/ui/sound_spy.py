"""Stands in for the window's audio player in tests: remembers what it was told to sound."""

from __future__ import annotations

from monitor.alarms.model import Priority


class Sound:
    """What the window asked the alarm sound to be (None: silent)."""

    def __init__(self) -> None:
        self.sounding: Priority | None = None

    def set_sounding(self, priority: Priority | None) -> None:
        self.sounding = priority

    def shutdown(self) -> None:
        self.sounding = None
