"""Alarm bursts measured from the buffers: pulse count, timing, pitch, harmonics, envelope."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.alarms.model import Priority
from monitor.alarms.sounds import REPEAT_INTERVAL_S, burst

RATE = 44100


def pulses(samples: np.ndarray, rate: int = RATE) -> list[tuple[float, float]]:
    """(start, end) seconds of each pulse where its RMS envelope is above half its peak."""
    window = int(0.01 * rate)
    power = np.convolve(samples.astype(np.float64) ** 2, np.ones(window) / window, mode="same")
    envelope = np.sqrt(power)
    on = np.r_[False, envelope > 0.5 * envelope.max(), False]
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    found = [(a / rate, b / rate) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    merged: list[tuple[float, float]] = []
    for start, end in found:
        # Ripple of the envelope must not split a pulse: IEC spacing is never under 50 ms.
        if merged and start - merged[-1][1] < 0.02:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def spectrum_peaks(pulse: np.ndarray, rate: int = RATE) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and magnitudes (dB re the largest) of a pulse's spectrum."""
    padded = np.zeros(1 << 17)
    padded[: len(pulse)] = pulse * np.hanning(len(pulse))
    magnitude = np.abs(np.fft.rfft(padded))
    freqs = np.fft.rfftfreq(len(padded), 1 / rate)
    return freqs, 20 * np.log10(magnitude / magnitude.max() + 1e-12)


@pytest.mark.parametrize(
    ("priority", "count"), [(Priority.HIGH, 10), (Priority.MEDIUM, 3), (Priority.LOW, 1)]
)
def test_pulse_count(priority, count):
    samples = burst(priority)
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert np.max(np.abs(samples)) <= 1.0
    assert len(pulses(samples)) == count


def test_high_priority_is_three_plus_two_pause_three_plus_two():
    found = pulses(burst(Priority.HIGH))
    durations = [end - start for start, end in found]
    gaps = [found[i + 1][0] - found[i][1] for i in range(len(found) - 1)]
    # IEC 60601-1-8: high-priority pulse 75-200 ms, spacing 50-125 ms
    assert all(0.075 <= d <= 0.2 for d in durations), durations
    short = [gaps[i] for i in (0, 1, 3, 5, 6, 8)]
    assert all(0.05 <= g <= 0.125 for g in short), gaps
    group_gaps = [gaps[2], gaps[7]]  # between the 3 and the 2: 2 x spacing + a pulse
    assert all(abs(g - (2 * np.mean(short) + np.mean(durations))) < 0.02 for g in group_gaps), gaps
    pause = gaps[4]  # between the two halves
    assert 0.35 <= pause <= 1.3
    assert pause > max(group_gaps)


@pytest.mark.parametrize("priority", [Priority.MEDIUM, Priority.LOW])
def test_medium_and_low_pulse_timing(priority):
    found = pulses(burst(priority))
    assert all(0.125 <= end - start <= 0.25 for start, end in found)
    gaps = [found[i + 1][0] - found[i][1] for i in range(len(found) - 1)]
    assert all(0.125 <= g <= 0.25 for g in gaps)


@pytest.mark.parametrize("priority", list(Priority))
def test_fundamental_and_at_least_four_harmonics(priority):
    samples = burst(priority).astype(np.float64)
    start, end = pulses(samples)[0]
    pulse = samples[int(start * RATE) : int(end * RATE)]
    freqs, db = spectrum_peaks(pulse)
    fundamental = freqs[np.argmax(db)]
    assert 150 <= fundamental <= 1000
    harmonics_present = 0
    for k in range(2, 8):
        near = np.abs(freqs - k * fundamental) < 0.02 * k * fundamental
        if 300 <= k * fundamental <= 4000 and db[near].max() > -15:
            harmonics_present += 1
    # IEC: at least four components within 15 dB in 300-4000 Hz (the fundamental counts if >= 300 Hz)
    assert harmonics_present + (fundamental >= 300) >= 4


@pytest.mark.parametrize("priority", list(Priority))
def test_pulses_rise_and_fall_without_clicks(priority):
    samples = burst(priority)
    start, _end = pulses(samples)[0]
    window = int(0.002 * RATE)
    first = int(start * RATE) - int(0.03 * RATE)
    head = np.abs(samples[max(0, first) : first + int(0.06 * RATE)])
    levels = [head[i : i + window].max() for i in range(0, len(head) - window, window)]
    peak = np.abs(samples).max()
    assert abs(samples[0]) < 0.01 * peak
    assert abs(samples[-1]) < 0.05 * peak
    rising = [level for level in levels if 0.1 * peak < level < 0.9 * peak]
    assert len(rising) >= 3, "the onset takes several milliseconds, not one sample"


def test_repeat_intervals_follow_priority():
    assert REPEAT_INTERVAL_S[Priority.HIGH] == pytest.approx(10, abs=2)
    assert REPEAT_INTERVAL_S[Priority.MEDIUM] == pytest.approx(25, abs=3)
    assert REPEAT_INTERVAL_S[Priority.LOW] == pytest.approx(30, abs=3)
    for priority in Priority:
        assert len(burst(priority)) / RATE < REPEAT_INTERVAL_S[priority]


def test_other_sample_rates():
    assert len(pulses(burst(Priority.HIGH, 22050), 22050)) == 10
    with pytest.raises(ValueError, match="sample rate"):
        burst(Priority.LOW, 4000)
