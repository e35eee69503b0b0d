"""The serial link: owns one pyserial port, reads it on its own thread, and survives unplugging.

Every port is opened with :func:`serial.serial_for_url`, so a device path (``/dev/ttyUSB0``,
``COM3``), a terminal server (``socket://host:port``, ``rfc2217://host:port``) and ``loop://``
all work the same way.

The reader thread turns the port into an ordered stream of :class:`Received` chunks (bytes
with their receive time) and :class:`~drivers.base.LinkEvent` markers. The owner drains that
stream with :meth:`SerialLink.take` on its own thread, so a decoder never runs on the reader
thread, and a marker arrives exactly between the bytes before a cut and the bytes after it:
the owner resets its decoder when it meets the marker, so half a frame from before the cut is
never glued to bytes from after it.

When the port fails (read error, end of file, dropped socket) or stays silent longer than
``link_lost_after_s``, the link reports ``link_lost`` once, closes the port and reopens it with
exponential backoff. ``link_restored`` is reported when bytes flow again, not merely when the
port reopens: an adapter that is back while the monitor is still unplugged is still a lost link.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from drivers.base import LinkCounters, LinkEvent, LinkEventKind, PortSettings
from drivers.core.clock import now as anchored_now

log = logging.getLogger(__name__)

#: How long one read on the port may block; bounds how quickly the thread notices a stop.
READ_BLOCK_S = 0.1
#: A write that cannot finish this fast (flow control held off) is abandoned.
WRITE_TIMEOUT_S = 1.0
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 5.0
LINK_LOST_AFTER_S = 5.0

#: States shown in :attr:`LinkCounters.state`.
STATE_CONNECTING = "connecting"
STATE_CONNECTED = "connected"
STATE_LOST = "lost"
STATE_CLOSED = "closed"

# What pyserial and the OS raise when a port is gone or cannot be opened.
PORT_ERRORS = (serial.SerialException, OSError, ValueError)


@dataclass(frozen=True, slots=True)
class Received:
    """Bytes read from the port and the wall-clock time they arrived."""

    t: float
    data: bytes


LinkItem = Received | LinkEvent


def serial_kwargs(settings: PortSettings) -> dict[str, Any]:
    """Keyword arguments for :func:`serial.serial_for_url` from a driver's port settings."""
    return {
        "baudrate": settings.baudrate,
        "bytesize": settings.bytesize,
        "parity": settings.parity,
        "stopbits": settings.stopbits,
        "xonxoff": settings.xonxoff,
        "rtscts": settings.rtscts,
    }


def open_port(url: str, settings: PortSettings, timeout: float | None = READ_BLOCK_S) -> serial.SerialBase:
    """Open ``url`` with the given line settings (raises ``serial.SerialException`` when it cannot).

    A device port is opened for this program alone (an advisory lock on POSIX; Windows ports are exclusive
    anyway): a second recording on the same port would take part of the device's bytes, and each of the two
    sessions would get some of one patient's values.
    """
    return serial.serial_for_url(
        url, timeout=timeout, write_timeout=WRITE_TIMEOUT_S, exclusive=True, **serial_kwargs(settings)
    )


class SerialLink:
    """A self-healing connection to one serial port; reading happens on a background thread."""

    def __init__(
        self,
        url: str,
        settings: PortSettings,
        *,
        link_lost_after_s: float = LINK_LOST_AFTER_S,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        clock: Callable[[], float] = anchored_now,
        opener: Callable[[str, PortSettings], serial.SerialBase] | None = None,
    ) -> None:
        if not link_lost_after_s > 0:
            raise ValueError("link_lost_after_s must be positive")
        self.url = url
        self.settings = settings
        self.link_lost_after_s = link_lost_after_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.counters = LinkCounters(state=STATE_CONNECTING)
        self.last_error: str | None = None
        self._clock = clock
        self._open_port = opener or open_port
        self._port: serial.SerialBase | None = None
        self._port_lock = threading.Lock()
        self._items: deque[LinkItem] = deque()
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Monotonic time the reader thread last went round its loop (read by the watchdog).
        self.last_beat = time.monotonic()
        self._retry_delay = backoff_initial_s
        # Monotonic time since which nothing has arrived (port opened, or last bytes).
        self._quiet_since = time.monotonic()

    # -- owner's side --------------------------------------------------------------------

    @property
    def state(self) -> str:
        """connecting, connected, lost or closed."""
        return self.counters.state

    @property
    def thread(self) -> threading.Thread | None:
        """The reader thread while open."""
        return self._thread

    @property
    def is_open(self) -> bool:
        """Whether the reader thread is running."""
        return self._thread is not None

    def open(self) -> None:
        """Open the port now (so a wrong name fails at once) and start the reader thread; idempotent."""
        if self._thread is not None:
            return
        port = self._open_port(self.url, self.settings)
        with self._port_lock:
            self._port = port
        self._stop.clear()
        self._quiet_since = time.monotonic()
        self.counters.state = STATE_CONNECTING
        self._thread = threading.Thread(target=self._run, name=f"serial-link {self.url}", daemon=True)
        self._thread.start()

    def take(self, timeout: float) -> list[LinkItem]:
        """Wait up to ``timeout`` seconds for something to arrive; return everything queued, in order."""
        with self._ready:
            if not self._items and timeout > 0:
                self._ready.wait(timeout)
            items = list(self._items)
            self._items.clear()
        return items

    def write(self, data: bytes) -> bool:
        """Send bytes to the device; False when the port is down (the reader thread handles recovery)."""
        if not data:
            return True
        with self._port_lock:
            port = self._port
            if port is None:
                return False
            try:
                written = port.write(data)
            except PORT_ERRORS as exc:
                self.last_error = f"write failed: {exc}"
                log.info("%s: %s", self.url, self.last_error)
                return False
        self.counters.bytes_out += int(written or 0)
        return True

    def close(self) -> None:
        """Stop the reader thread and release the port; idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5 * READ_BLOCK_S + 2.0)
        self._close_port()
        self.counters.state = STATE_CLOSED

    # -- reader thread -------------------------------------------------------------------

    def _emit(self, item: LinkItem) -> None:
        with self._ready:
            self._items.append(item)
            self._ready.notify_all()

    def _close_port(self) -> None:
        with self._port_lock:
            port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*PORT_ERRORS):  # already gone; nothing left to release
                port.close()

    def _declare_lost(self, detail: str) -> None:
        if self.counters.state != STATE_LOST:
            self.counters.state = STATE_LOST
            log.warning("%s: link lost (%s)", self.url, detail)
            self._emit(LinkEvent(self._clock(), LinkEventKind.LINK_LOST, detail))

    def _drop_port(self, detail: str) -> None:
        """The port failed or went silent: report it and start retrying."""
        self.last_error = detail
        self._close_port()
        self._declare_lost(detail)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.last_beat = time.monotonic()
            with self._port_lock:
                port = self._port
            if port is None:
                self._reopen()
                continue
            try:
                data = port.read(1)
                waiting = port.in_waiting if data else 0
                if waiting:
                    data += port.read(waiting)
            except PORT_ERRORS as exc:
                # Includes EIO from a pty whose other side closed, and "socket disconnected".
                self._drop_port(f"port error: {exc}")
                continue
            if data:
                self._on_bytes(data)
            elif time.monotonic() - self._quiet_since >= self.link_lost_after_s:
                # Open but silent: the monitor is off or its cable is out. Reopening also
                # clears a half-dead TCP connection to a terminal server.
                self._drop_port(f"no data for {self.link_lost_after_s:g} s")

    def _on_bytes(self, data: bytes) -> None:
        now = self._clock()
        self._quiet_since = time.monotonic()
        self._retry_delay = self.backoff_initial_s
        if self.counters.state == STATE_LOST:
            self.counters.reconnects += 1
            log.warning("%s: link restored", self.url)
            self._emit(LinkEvent(now, LinkEventKind.LINK_RESTORED, "data flowing again"))
        self.counters.state = STATE_CONNECTED
        self.counters.bytes_in += len(data)
        self._emit(Received(now, data))

    def _reopen(self) -> None:
        # A deliberate wait is not a stall: the beat is promised for its end.
        self.last_beat = time.monotonic() + self._retry_delay
        if self._stop.wait(self._retry_delay):
            return
        self._retry_delay = min(self._retry_delay * 2, self.backoff_max_s)
        try:
            port = self._open_port(self.url, self.settings)
        except PORT_ERRORS as exc:
            self.last_error = f"cannot reopen: {exc}"
            log.debug("%s: %s", self.url, self.last_error)
            return
        with self._port_lock:
            self._port = port
        self._quiet_since = time.monotonic()
