"""Numpy buffers for charts: growing trend buffers for the session, a fixed ring for the pleth strip."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Four hours of 1 Hz numerics fit without a single reallocation; a session is about 90 minutes.
TREND_CAPACITY = 4 * 3600


class TrendBuffer:
    """Times and values of one series, preallocated; grows by doubling, never per sample."""

    def __init__(self, capacity: int = TREND_CAPACITY) -> None:
        self.t = np.empty(capacity, dtype=np.float64)
        self.v = np.empty(capacity, dtype=np.float64)
        self.n = 0
        # The smallest and largest finite value so far, kept as samples come: a chart asks at every tick.
        self._low = math.inf
        self._high = -math.inf

    def extend(self, times: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray) -> None:
        """Append samples (NaN for missing values)."""
        count = len(times)
        if not count:
            return
        needed = self.n + count
        if needed > self.t.size:
            size = max(needed, self.t.size * 2)
            self.t = np.resize(self.t, size)
            self.v = np.resize(self.v, size)
        self.t[self.n : needed] = times
        self.v[self.n : needed] = values
        added = self.v[self.n : needed]
        finite = added[np.isfinite(added)]
        if finite.size:
            self._low = min(self._low, float(finite.min()))
            self._high = max(self._high, float(finite.max()))
        self.n = needed

    def clear(self) -> None:
        """Forget every sample (the memory is kept)."""
        self.n = 0
        self._low, self._high = math.inf, -math.inf

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        """The filled part (no copy)."""
        return self.t[: self.n], self.v[: self.n]

    def value_range(self) -> tuple[float, float] | None:
        """Smallest and largest finite value, None when there is none (kept as samples come: no scan)."""
        if self._low > self._high:
            return None
        return self._low, self._high


class RingBuffer:
    """The newest ``capacity`` samples of a waveform, in a fixed block of memory."""

    def __init__(self, capacity: int) -> None:
        self.t = np.full(capacity, np.nan)
        self.v = np.full(capacity, np.nan)
        self.capacity = capacity
        self.head = 0  # where the next sample goes
        self.count = 0

    def extend(self, times: list[float], values: list[float]) -> None:
        """Append samples, overwriting the oldest."""
        times_a = np.asarray(times[-self.capacity :], dtype=np.float64)
        values_a = np.asarray(values[-self.capacity :], dtype=np.float64)
        n = times_a.size
        if not n:
            return
        first = min(n, self.capacity - self.head)
        self.t[self.head : self.head + first] = times_a[:first]
        self.v[self.head : self.head + first] = values_a[:first]
        rest = n - first
        if rest:
            self.t[:rest] = times_a[first:]
            self.v[:rest] = values_a[first:]
        self.head = (self.head + n) % self.capacity
        self.count = min(self.capacity, self.count + n)

    def clear(self) -> None:
        """Forget every sample."""
        self.t.fill(np.nan)
        self.v.fill(np.nan)
        self.head = 0
        self.count = 0

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """Samples oldest first (a copy of at most ``capacity`` values)."""
        if self.count < self.capacity:
            return self.t[: self.count].copy(), self.v[: self.count].copy()
        order = np.r_[self.head : self.capacity, 0 : self.head]
        return self.t[order], self.v[order]
