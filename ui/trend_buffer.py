"""Fixed-size numpy buffers for live trends (one per parameter), appended in batches."""

from __future__ import annotations

import numpy as np


class TrendBuffer:
    """Times and values of one parameter; grows by doubling, never per sample."""

    def __init__(self, capacity: int = 8192) -> None:
        self.t = np.empty(capacity, dtype=np.float64)
        self.v = np.empty(capacity, dtype=np.float64)
        self.n = 0

    def extend(self, times: list[float], values: list[float]) -> None:
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
        self.n = needed

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        """The filled part (no copy)."""
        return self.t[: self.n], self.v[: self.n]
