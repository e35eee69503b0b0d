"""How one physiological condition is judged over time: a sliding-window start and a hysteresis end.

Real probes flicker: a desaturation crosses back above its limit for a second or two, and a value
at the limit wanders across it. A condition delay that restarts on one normal sample never alarms
for the first, and an alarm that ends on the first normal sample chatters on the second. So:

* **Start.** Each valid sample beyond the limit counts as *time beyond the limit* from its own
  time until the next sample of the same parameter (at most :data:`MAX_CREDIT_S`). The condition
  starts on a sample beyond the limit when the time beyond the limit within the last
  ``window_s`` seconds (``window_factor`` × the condition delay) has reached the condition delay.
  A steady breach therefore alarms after exactly the delay; one with brief returns alarms a
  little later (SpO2 85 % for 4 s and 93 % for 1 s, delay 15 s: after about 19 s); a value that
  spends half its time beyond the limit alarms after ``window_s``; a dip shorter than the delay
  never alarms.
* **End.** Once started, the condition ends only after every valid sample for ``end_hold_s``
  seconds has been back within the limit by at least ``margin`` (in the parameter's unit). A
  value hovering at the limit keeps the alarm, it does not make it start and stop every second.
  When it ends, the time beyond the limit collected so far is forgotten, so the next breach needs
  its full delay again.
* **No value.** A sample without a usable value counts for nothing: it adds no time beyond the
  limit, it never ends the condition, and it restarts the count of clear samples (the alarm ends
  only on valid values back within the limit).

Spot values (NIBP) take no delay, no hold and no margin: each valid cuff starts or ends the
condition by itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

#: Longest time one sample is held to stand for (readings come every 1-2 s; a gap is no data).
MAX_CREDIT_S: Final = 5.0


@dataclass(slots=True)
class ConditionTimer:
    """The start/end judgement of one rule on one stream of samples (mutable, one per rule)."""

    delay_s: float
    window_s: float
    end_hold_s: float
    #: Intervals (start, end) of time beyond the limit, oldest first, within the window.
    _beyond: deque[tuple[float, float]] = field(default_factory=deque)
    #: The last valid sample (time, beyond the limit) whose interval is still open.
    _open: tuple[float, bool] | None = None
    _clear_since: float | None = None
    met: bool = False

    def beyond_time(self, now: float) -> float:
        """Seconds beyond the limit within the window ending at ``now`` (closed intervals only)."""
        start = now - self.window_s
        return sum(min(end, now) - max(begin, start) for begin, end in self._beyond if end > start)

    def _close_open(self, t: float) -> None:
        if self._open is not None:
            begin, beyond = self._open
            if beyond and t > begin:
                self._beyond.append((begin, min(t, begin + MAX_CREDIT_S)))
            self._open = None
        horizon = t - self.window_s
        while self._beyond and self._beyond[0][1] <= horizon:
            self._beyond.popleft()

    def sample(self, t: float, beyond: bool, clear: bool) -> bool:
        """A valid sample at ``t``: beyond the limit, or clear of it by the margin (or neither).

        Returns whether the condition holds after this sample.
        """
        self._close_open(t)
        self._open = (t, beyond)
        if not self.met:
            if beyond and self.beyond_time(t) >= self.delay_s:
                self.met = True
                self._clear_since = None
            return self.met
        if not clear:
            self._clear_since = None
            return True
        if self._clear_since is None:
            self._clear_since = t
        if t - self._clear_since >= self.end_hold_s:
            self.met = False
            self._clear_since = None
            self._beyond.clear()
        return self.met

    def unusable(self, t: float) -> None:
        """A sample without a usable value: no time beyond the limit, no step towards the end."""
        self._close_open(t)
        self._clear_since = None

    def reset(self) -> None:
        """Forget everything (rule switched off or replaced)."""
        self._beyond.clear()
        self._open = None
        self._clear_since = None
        self.met = False
