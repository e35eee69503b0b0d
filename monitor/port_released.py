"""What the recorder reads while its device has let go of the port for another setting on that same port.

A device changed to other line settings or another driver on the port it is read from can be opened only once
the running one has let go (a serial port is opened for one reader alone, a TCP port is listened on once). In
between, the session goes on (timers, alarms, the timeline) with this stand-in as its source: it reads nothing,
so the values shown age and go stale as with any silence, and it keeps the released device's clock and name.

A change that never ends (the window that asked for it gone, the way back refused) must not leave the
monitoring silent: the stand-in reports the link lost once the device's own link would have counted it lost.
"""

from __future__ import annotations

import threading
import time

from drivers.base import LinkEventKind, Source
from drivers.core.readings import Reading

#: The link's state while the port is let go (shown as "link changing").
STATE_CHANGING = "changing"
#: The link's state once the change is given up.
STATE_LOST = "lost"


class PortReleased(Source):
    """Stands for a device that let go of its port while another setting on that port is being opened."""

    def __init__(self, released: Source, lost_after_s: float) -> None:
        super().__init__(released.name, released.device)
        self.simulated = released.simulated
        self.counters.state = STATE_CHANGING
        self._clock = released.now
        self._lost_after_s = lost_after_s
        self._released_at = time.monotonic()
        self._idle = threading.Event()  # never set: reading only waits, as a read on a quiet port does
        #: Made on the recorder's thread, which is the one reading it (see :meth:`reader`).
        self._reading_thread = threading.current_thread()
        self.last_beat = time.monotonic()

    @property
    def thread(self) -> threading.Thread:
        """The recorder's thread: nothing else reads while the port is let go."""
        return self._reading_thread

    def reader(self) -> PortReleased:
        """Itself, read on the recorder's thread: the watchdog, which watches every device reader it has seen,
        then watches this one instead of the released device's reader, stopped on purpose."""
        return self

    def read(self, timeout: float) -> list[Reading]:
        """Nothing, after ``timeout`` seconds; the link counts as lost once the change has taken too long."""
        self._idle.wait(timeout)
        self.last_beat = time.monotonic()
        if self.counters.state == STATE_CHANGING and time.monotonic() - self._released_at >= self._lost_after_s:
            self.lost(f"no device for {self._lost_after_s:g} s while the device was being changed")
        return []

    def now(self) -> float:
        """The released device's clock: session time goes on as it would have."""
        return self._clock()

    def lost(self, detail: str) -> None:
        """Report the link lost (once): the change could not be completed and nothing reads the patient."""
        if self.counters.state == STATE_LOST:
            return
        self.counters.state = STATE_LOST
        self._link_event(LinkEventKind.LINK_LOST, self.now(), detail)
