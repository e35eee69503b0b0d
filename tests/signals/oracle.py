"""What a bedside monitor following CLINICAL.md must raise for a series of samples.

Written from /work/shared/CLINICAL.md only ("Default alarm limits", "Alarm system behaviour",
"Signals as they really arrive"):

* SpO2 < 92 medium, < 90 high, condition delay 15 s; HR/PR < 50 or > 150 high, > 120 medium
  (10 s, the product's documented default; CLINICAL gives no number for HR).
* Time beyond the limit is judged over a window: a flicker that spends a good share of the time
  beyond the limit must alarm; the alarm may take up to ``max_delay_factor`` x the delay.
* An alarm ends only after the value has been back (with a margin) for a few seconds; a sample
  without a usable value never ends one.
* NIBP is a spot value: no delay.
* A sample is judged at the time the patient had that value (its measurement time), in time order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

SPO2_RULES = (("spo2_low_severe", 90.0, "high"), ("spo2_low", 92.0, "medium"))
HR_RULES_LOW = (("hr_low", 50.0, "high"),)
HR_RULES_HIGH = (("hr_high_severe", 150.0, "high"), ("hr_high", 120.0, "medium"))


@dataclass(frozen=True)
class Sample:
    t: float
    parameter: str  # "spo2", "pr", "nibp_sys", "nibp_dia"
    value: float | None  # None: no usable value


@dataclass(frozen=True)
class Expected:
    condition: str
    priority: str
    earliest: float  # the alarm may not start before this
    latest: float  # and must have started by this


def _below(v: float, limit: float) -> bool:
    return v < limit


def expected_spo2(samples: list[Sample], delay_s: float = 15.0, max_delay_factor: float = 2.0) -> list[Expected]:
    """The SpO2 alarms a compliant monitor must raise: for each rule, the first time the value has been
    below the limit for ``delay_s`` in total within a window of ``max_delay_factor`` x ``delay_s``
    (the latest start), and never before ``delay_s`` of time below the limit has passed."""
    spo2 = sorted((s for s in samples if s.parameter == "spo2"), key=lambda s: s.t)
    out: list[Expected] = []
    for condition, limit, priority in SPO2_RULES:
        window = delay_s * max_delay_factor
        beyond: list[tuple[float, float]] = []
        first_beyond: float | None = None
        for a, b in itertools.pairwise(spo2):
            if a.value is not None and _below(a.value, limit):
                beyond.append((a.t, min(b.t, a.t + 5.0)))
                if first_beyond is None:
                    first_beyond = a.t
            start = b.t - window
            total = sum(min(e, b.t) - max(s, start) for s, e in beyond if e > start)
            if total >= delay_s - 1e-9 and first_beyond is not None:
                out.append(Expected(condition, priority, first_beyond + delay_s - 1.0, b.t + 1.0))
                break
    return out


def must_not_alarm_spo2(samples: list[Sample], limit: float, delay_s: float = 15.0) -> bool:
    """True when the total time below ``limit`` is under the delay: no alarm may start."""
    spo2 = sorted((s for s in samples if s.parameter == "spo2"), key=lambda s: s.t)
    total = sum(
        min(b.t - a.t, 5.0) for a, b in itertools.pairwise(spo2)
        if a.value is not None and a.value < limit
    )
    return total < delay_s
