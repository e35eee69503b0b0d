"""Time that cannot jump: a monotonic clock anchored to the wall clock once, at start.

Every time stamp a device source gives a reading comes from :func:`now`: the wall-clock time
read once when the process first asks, plus the monotonic time elapsed since. Setting the
system clock (by hand, by NTP stepping, by a dead RTC battery) therefore never shortens or
lengthens the infusion, the recovery, an alarm delay or the age of a value. The step itself is
noticed by :meth:`AnchoredClock.take_step` and recorded on the timeline (``clock_changed``).

Tests inject their own ``wall`` and ``monotonic`` functions.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

SECONDS_PER_MINUTE = 60.0

#: A difference between wall and anchored time that grows by more than this is a clock step.
STEP_THRESHOLD_S = 2.0
#: Device time stamps are trusted only this far before the receive time (a spot value sent late).
DEVICE_TIME_PAST_S = 600.0
#: A stamp up to this far after the receive time is clock noise; further, the device's clock is wrong.
DEVICE_TIME_FUTURE_S = 2.0
#: A device's clock error is named once this many messages, arriving over at least ``CLOCK_SETTLE_S``,
#: agree on it within ``CLOCK_STEADY_S``; an error smaller than ``CLOCK_REPORT_S`` is not named.
CLOCK_SETTLE_COUNT = 5
CLOCK_SETTLE_S = 4.0
CLOCK_STEADY_S = 1.0
CLOCK_REPORT_S = 5.0


def since_boot() -> float:
    """A clock that never steps and goes on while the computer is suspended (Linux CLOCK_BOOTTIME).

    ``time.monotonic`` (CLOCK_MONOTONIC) stands still during a suspend: anchored on it, a session whose
    computer slept 20 minutes would stamp everything after it 20 minutes early, and a cuff taken before the
    sleep would look as fresh as when the lid closed. Where there is no such clock, ``time.monotonic``.
    """
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is None:
        return time.monotonic()
    return time.clock_gettime(boottime)


class AnchoredClock:
    """Wall time at the anchor plus time since on a clock that never steps; reports wall-clock steps."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = since_boot,
        step_threshold_s: float = STEP_THRESHOLD_S,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.step_threshold_s = step_threshold_s
        self._lock = threading.Lock()
        self.anchor_wall = wall()
        self.anchor_monotonic = monotonic()
        self._offset = 0.0  # wall minus anchored time when last looked at

    def now(self) -> float:
        """Anchored time: never steps, advances with the monotonic clock."""
        return self.anchor_wall + (self._monotonic() - self.anchor_monotonic)

    def __call__(self) -> float:
        return self.now()

    def rebase(self, not_before: float | None = None) -> None:
        """Anchor again to the wall clock now (before a session starts: a step before it is not its business).

        ``not_before``: the anchored time starts no earlier than this (a resumed session's newest data: a wall
        clock set back while the session was interrupted must not take its time backwards).
        """
        with self._lock:
            wall = self._wall()
            self.anchor_wall = wall if not_before is None else max(wall, not_before)
            self.anchor_monotonic = self._monotonic()
            self._offset = wall - self.anchor_wall

    def take_step(self) -> float | None:
        """The size of a wall-clock step since the last call (seconds, signed), or None."""
        with self._lock:
            offset = self._wall() - self.now()
            step = offset - self._offset
            if abs(step) < self.step_threshold_s:
                return None
            self._offset = offset
            return step


_process_clock: AnchoredClock | None = None
_process_lock = threading.Lock()


def process_clock() -> AnchoredClock:
    """The clock every device source of this process stamps readings with (anchored on first use)."""
    global _process_clock
    with _process_lock:
        if _process_clock is None:
            _process_clock = AnchoredClock()
        return _process_clock


def now() -> float:
    """Anchored time of this process (see :class:`AnchoredClock`)."""
    return process_clock().now()


def device_time(stamp: float, received: float) -> tuple[float, float | None]:
    """The time to store for a device time stamp and, when it was refused, its offset.

    A stamp up to ``DEVICE_TIME_PAST_S`` before the receive time is kept. Nothing is measured after it
    arrived, so a later stamp is stored at the receive time: a device clock running fast must not
    carry the session's clock ahead, which would keep its last values looking current and hold back
    the "no data" alarm once it falls silent. Beyond the noise of ``DEVICE_TIME_FUTURE_S`` (or beyond
    the past limit) the offset (stamp minus receive time) is returned, to be reported.
    """
    offset = stamp - received
    if -DEVICE_TIME_PAST_S <= offset <= 0.0:
        return stamp, None
    if 0.0 < offset <= DEVICE_TIME_FUTURE_S:
        return received, None
    return received, offset


class SendClockWatch:
    """Learns a device's clock error from the times it says it sent its messages (HL7 MSH-7).

    The error is named once it holds steady: ``CLOCK_SETTLE_COUNT`` messages arriving over at least
    ``CLOCK_SETTLE_S`` agree on it within ``CLOCK_STEADY_S``. A backlog sent in a burst never does: its
    send times spread over minutes while it arrives within a second. Times are not corrected with it
    (a backlog sent at the live rate would look the same as a slow clock): values from a device whose
    clock is behind look old, which is the safe side, and the timeline says why.
    """

    def __init__(self) -> None:
        self._recent: deque[tuple[float, float]] = deque(maxlen=CLOCK_SETTLE_COUNT)
        #: The steady error last named (None: none, or the clock agrees again).
        self.error_s: float | None = None

    def observe(self, sent: float, received: float) -> float | None:
        """Take one message's send time; the steady error when it is news, else None."""
        self._recent.append((received, sent - received))
        if len(self._recent) < CLOCK_SETTLE_COUNT or received - self._recent[0][0] < CLOCK_SETTLE_S:
            return None
        errors = [error for _, error in self._recent]
        if max(errors) - min(errors) > CLOCK_STEADY_S:
            return None
        error = max(errors)  # the freshest: the wire only ever adds delay
        if abs(error) < CLOCK_REPORT_S:
            self.error_s = None
            return None
        if self.error_s is not None and abs(error - self.error_s) < CLOCK_REPORT_S:
            return None
        self.error_s = error
        return error
