"""Whether an HL7 sender's link is up, judged by its messages and never by its connections.

Many senders (interface engines, gateways, some monitors) open a connection for each message and
close it once the ACK is read; others keep one connection for hours. A closed connection is
therefore no lost link. What tells the nurse the values stopped is silence: the link is lost
when no message has come for ``max(link_lost_after_s, 2.5 × the sender's usual interval)``, where
the usual interval is the median of the last gaps between its messages. A serial device talks
several times a second, so for it the silence is ``link_lost_after_s`` alone; an HL7 sender
talks every few seconds to every minute by its own setting, and may miss one message without
being gone. Until a gap has been seen the interval is taken as :data:`FIRST_INTERVAL_S`, the
slowest periodic setting in common use (the values' own "no data" alarms still speak meanwhile).

The watch is pure: every call is given the time (monotonic seconds), and it says whether the
link was lost or came back at that moment.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Final

#: How many times the sender's usual interval may pass without a message before the link is lost.
INTERVALS_BEFORE_LOST: Final = 2.5
#: The sender's interval assumed until two of its messages have been seen (seconds).
FIRST_INTERVAL_S: Final = 60.0


class MessageLinkWatch:
    """The link of one listener, judged from the times its messages arrive; see the module text."""

    #: Gaps shorter than this (seconds) are messages sent together (a batch, a cuff result beside the
    #: periodic message), not the sender's interval.
    same_burst_s = 1.0

    def __init__(self, link_lost_after_s: float = 5.0, *, gaps_kept: int = 8) -> None:
        if not link_lost_after_s > 0:
            raise ValueError("link_lost_after_s must be positive")
        self.link_lost_after_s = link_lost_after_s
        # The usual interval is taken from this many recent gaps.
        self._gaps: deque[float] = deque(maxlen=gaps_kept)
        self._last_message: float | None = None
        #: The link was judged lost and no message has come since.
        self.lost = False

    def usual_interval_s(self) -> float:
        """The sender's usual time between messages: the median of the recent gaps, or the first guess."""
        return statistics.median(self._gaps) if self._gaps else FIRST_INTERVAL_S

    def allowed_silence_s(self) -> float:
        """How long without a message before the link is lost."""
        return max(self.link_lost_after_s, INTERVALS_BEFORE_LOST * self.usual_interval_s())

    def message(self, at: float) -> bool:
        """A message arrived at ``at``; True when it restores a link judged lost."""
        last, self._last_message = self._last_message, at
        if self.lost:
            # The gap that ended an outage is no interval of the sender's: it is not learned.
            self.lost = False
            return True
        if last is not None and at - last >= self.same_burst_s:
            self._gaps.append(at - last)
        return False

    def check(self, at: float) -> str:
        """Judge the silence at ``at``: why the link is lost when it has just lasted the allowed time, else ''."""
        if self.lost or self._last_message is None:
            return ""  # said once; and before the first message there is no sender to miss yet
        silence = at - self._last_message
        allowed = self.allowed_silence_s()
        if silence < allowed:
            return ""
        self.lost = True
        return (
            f"no HL7 message for {silence:.0f} s (the sender's usual interval is {self.usual_interval_s():.3g} s; "
            f"the link is judged lost after {allowed:.3g} s)"
        )
