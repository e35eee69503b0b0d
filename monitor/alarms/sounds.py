"""IEC 60601-1-8 style alarm bursts as audio buffers; the screen only plays them.

Pattern and timing (IEC 60601-1-8 Table 3 ranges in brackets):

* **high**: 10 pulses as 3 + 2, pause, 3 + 2. Pulse duration 150 ms [75-200 ms], spacing between
  pulses 80 ms [50-125 ms]; the gap between the 3rd and 4th (and 8th and 9th) pulse is
  2 x spacing + one pulse duration = 310 ms; the gap between the 5th and 6th pulse is 600 ms
  [350-1300 ms]. Burst length 3.2 s (10 pulses, six 80 ms and two 310 ms spacings, one 600 ms gap); repeated
  every 10 s.
* **medium**: 3 pulses, duration 200 ms [125-250 ms], spacing 200 ms [125-250 ms]. Burst length
  1.0 s; repeated every 25 s.
* **low**: 1 pulse, duration 200 ms [125-250 ms]; repeated every 30 s.

Every pulse is a fundamental (high 523.3 Hz, medium 440 Hz, low 392 Hz; allowed 150-1000 Hz) with
harmonics 2 to 5 at 0.75, 0.55, 0.4 and 0.3 of the fundamental (all within 15 dB of it, so at
least four components lie in 300-4000 Hz), shaped by raised-cosine rise and fall of 20 % of the
pulse duration [10-20 % rise]. Durations and spacings are measured between the half-amplitude
points of the envelope: each generated pulse is one ramp longer than its duration, and the
silence between pulses one ramp shorter than the spacing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from monitor.alarms.model import Priority


@dataclass(frozen=True, slots=True)
class BurstPattern:
    """Timing and pitch of one priority's burst."""

    fundamental_hz: float
    pulse_s: float
    #: Silence before each pulse after the first, seconds (len = pulses - 1).
    gaps_s: tuple[float, ...]

    @property
    def pulses(self) -> int:
        """Number of pulses in the burst."""
        return len(self.gaps_s) + 1

    @property
    def duration_s(self) -> float:
        """Length of the whole burst (half-amplitude start of the first pulse to end of the last)."""
        return self.pulses * self.pulse_s + sum(self.gaps_s)


HARMONICS: Final = (1.0, 0.75, 0.55, 0.4, 0.3)  # relative amplitudes of harmonics 1..5
RISE_FRACTION: Final = 0.2
PEAK_LEVEL: Final = 0.8

_HIGH_SPACING = 0.08
_HIGH_PULSE = 0.15
_HIGH_GROUP_GAP = 2 * _HIGH_SPACING + _HIGH_PULSE
_HIGH_PAUSE = 0.6

PATTERNS: Final[dict[Priority, BurstPattern]] = {
    Priority.HIGH: BurstPattern(
        523.25,
        _HIGH_PULSE,
        (
            _HIGH_SPACING,
            _HIGH_SPACING,
            _HIGH_GROUP_GAP,
            _HIGH_SPACING,
            _HIGH_PAUSE,
            _HIGH_SPACING,
            _HIGH_SPACING,
            _HIGH_GROUP_GAP,
            _HIGH_SPACING,
        ),
    ),
    Priority.MEDIUM: BurstPattern(440.0, 0.2, (0.2, 0.2)),
    Priority.LOW: BurstPattern(392.0, 0.2, ()),
}

#: Seconds from the start of one burst to the start of the next while the alarm sounds.
REPEAT_INTERVAL_S: Final[dict[Priority, float]] = {
    Priority.HIGH: 10.0,
    Priority.MEDIUM: 25.0,
    Priority.LOW: 30.0,
}


def _ramp_s(pattern: BurstPattern) -> float:
    return RISE_FRACTION * pattern.pulse_s


def _pulse(pattern: BurstPattern, sample_rate: int) -> npt.NDArray[np.float64]:
    ramp = max(1, round(_ramp_s(pattern) * sample_rate))
    # The envelope crosses half amplitude half a ramp in from each end: that span is pulse_s.
    n = round(pattern.pulse_s * sample_rate) + ramp
    t = np.arange(n) / sample_rate
    wave = np.zeros(n)
    for k, amplitude in enumerate(HARMONICS, start=1):
        wave += amplitude * np.sin(2 * np.pi * k * pattern.fundamental_hz * t)
    envelope = np.ones(n)
    shape = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, ramp))
    envelope[:ramp] = shape
    envelope[n - ramp :] = shape[::-1]
    result: npt.NDArray[np.float64] = wave * envelope
    return result


def burst(priority: Priority, sample_rate: int = 44100) -> npt.NDArray[np.float32]:
    """One complete burst for ``priority``: float32 mono samples in -1..1."""
    if sample_rate < 8000:
        raise ValueError("the sample rate must be at least 8000 Hz to carry the harmonics")
    pattern = PATTERNS[Priority(priority)]
    pulse = _pulse(pattern, sample_rate)
    ramp = round(_ramp_s(pattern) * sample_rate)
    pieces = [pulse]
    for gap in pattern.gaps_s:
        pieces.append(np.zeros(round(gap * sample_rate) - ramp))
        pieces.append(pulse)
    samples = np.concatenate(pieces)
    samples *= PEAK_LEVEL / float(np.max(np.abs(samples)))
    return samples.astype(np.float32)
