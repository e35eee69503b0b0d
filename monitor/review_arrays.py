"""Whole-session arrays for the review screen: trends and the pleth waveform read straight into numpy.

A 90-minute (or 24-hour) session is drawn and summarised without a loop per sample: the readings are
read from the store once into arrays, judged reliable with numpy, and the review's figures (phase
statistics, baseline against the end of recovery, return to baseline) are computed from them with the
same rules as :mod:`monitor.review`, which stays free of numpy so that exports and the command line
never load it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from drivers.core.readings import NIBP_PARAMETERS, NUMERIC_PARAMETERS, UNRELIABLE, Parameter, parse_flags
from monitor.exports.data import SessionRecord
from monitor.review import (
    END_OF_RECOVERY_WINDOW_S,
    RETURN_TOLERANCE,
    REVIEW_PHASES,
    BaselineComparison,
    PhaseStatistics,
    ReturnToBaseline,
    _baseline_comparisons,
    _phase_span,
    _returns_to_baseline,
    session_baseline,
)
from monitor.session import Phase
from monitor.store import Reader

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TrendArrays:
    """One parameter over a whole session, as arrays in time order.

    ``value`` is NaN where the reading had no value or a flag that makes it untrustworthy (the
    chart leaves a gap there); ``doubtful`` marks readings that had a value the device flagged,
    so the chart can still show them apart, and ``raw`` keeps those values.
    """

    t: FloatArray
    value: FloatArray
    raw: FloatArray
    doubtful: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.t.size)


def trend_arrays(store: Reader, session_id: str) -> dict[Parameter, TrendArrays]:
    """Every numeric parameter of a session as arrays, read in one query without a loop per reading."""
    # The parameters are taken apart with numpy afterwards.
    rows = store.reading_rows(session_id)
    out: dict[Parameter, TrendArrays] = {}
    if not rows:
        return out
    names, times, values, statuses = zip(*rows, strict=True)
    t_all = np.asarray(times, dtype=np.float64)
    raw_all = np.asarray(values, dtype=np.float64)  # None becomes NaN
    # Few distinct status texts exist; judge each once and spread the verdict with numpy.
    distinct, index = np.unique(np.asarray(statuses, dtype=object).astype(str), return_inverse=True)
    unreliable_status = np.array([bool(parse_flags(text) & UNRELIABLE) for text in distinct], dtype=bool)
    flagged = unreliable_status[index.reshape(-1)]
    present = np.isfinite(raw_all)
    doubtful_all = present & flagged
    good_all = np.where(present & ~flagged, raw_all, np.nan)
    parameter_names, which = np.unique(np.asarray(names, dtype=str), return_inverse=True)
    which = which.reshape(-1)
    for code, name in enumerate(parameter_names.tolist()):
        try:
            parameter = Parameter(name)
        except ValueError:
            continue
        mine = which == code
        out[parameter] = TrendArrays(
            t=t_all[mine], value=good_all[mine], raw=raw_all[mine], doubtful=doubtful_all[mine]
        )
    return out


# -- the same review figures from arrays (a review window of a long session) --------------------------------


def load_for_review(
    store: Reader, session_id: str, *, verify: bool = True
) -> tuple[SessionRecord, dict[Parameter, TrendArrays]]:
    """A session as the review window needs it, without a Python object per reading.

    The record carries its events, alarms and the cuff readings (few); every numeric parameter
    comes as arrays (:func:`trend_arrays`). The ``*_from_arrays`` functions below give the same
    figures from these as their record counterparts give from a whole record, so a day-long
    session opens in about a second. ``verify=False``: the record's verification is left to the caller.
    """
    from monitor.exports.data import load

    record = load(store, session_id, readings_of=NIBP_PARAMETERS, verify=verify)
    return record, trend_arrays(store, record.id)


def _reliable(arrays: dict[Parameter, TrendArrays], parameter: Parameter) -> tuple[FloatArray, FloatArray]:
    found = arrays.get(parameter)
    if found is None:
        return np.empty(0), np.empty(0)
    keep = np.isfinite(found.value)
    return found.t[keep], found.value[keep]


def last_data_from_arrays(record: SessionRecord, arrays: dict[Parameter, TrendArrays]) -> float | None:
    """The time of the last stored reading."""
    ends = [float(a.t[-1]) for a in arrays.values() if len(a)]
    return max(ends) if ends else None


def heart_rate_parameter_from_arrays(record: SessionRecord, arrays: dict[Parameter, TrendArrays]) -> Parameter:
    """As :func:`heart_rate_parameter`."""
    baseline = session_baseline(record)
    if baseline is not None:
        return baseline.heart_rate_parameter
    return Parameter.HR if _reliable(arrays, Parameter.HR)[0].size else Parameter.PR


def phase_statistics_from_arrays(
    record: SessionRecord, arrays: dict[Parameter, TrendArrays]
) -> list[PhaseStatistics]:
    """As :func:`phase_statistics`."""
    phase_at = record.phase_at()
    starts = np.asarray(phase_at.times, dtype=np.float64)
    order = list(Phase)
    codes = np.asarray([order.index(p) for p in phase_at.phases], dtype=np.int64)
    setup = order.index(Phase.SETUP)
    out = []
    for parameter in NUMERIC_PARAMETERS:
        t, v = _reliable(arrays, parameter)
        index = np.searchsorted(starts, t, side="right") - 1
        sample_phase = np.where(index >= 0, codes[np.clip(index, 0, None)] if codes.size else setup, setup)
        for phase in REVIEW_PHASES:
            found = v[sample_phase == order.index(phase)]
            if found.size:
                out.append(PhaseStatistics(
                    phase, parameter, int(found.size), float(found.min()), float(found.max()),
                    round(statistics.fmean(found.tolist()), 1), float(np.median(found)),
                ))
            else:
                out.append(PhaseStatistics(phase, parameter, 0, None, None, None, None))
    # In the order of :func:`phase_statistics`: phase by phase, then parameter.
    return sorted(out, key=lambda st: (REVIEW_PHASES.index(st.phase), NUMERIC_PARAMETERS.index(st.parameter)))


def baseline_vs_end_of_recovery_from_arrays(
    record: SessionRecord, arrays: dict[Parameter, TrendArrays]
) -> list[BaselineComparison]:
    """As :func:`baseline_vs_end_of_recovery`."""

    def end_of(parameter: Parameter, begin: float, end: float) -> tuple[float | None, float | None]:
        t, v = _reliable(arrays, parameter)
        inside = (t >= begin) & (t <= end)
        t, v = t[inside], v[inside]
        if t.size and parameter in NIBP_PARAMETERS:
            return float(v[-1]), float(t[-1])
        if t.size:
            last_t = float(t[-1])
            return float(np.median(v[t >= last_t - END_OF_RECOVERY_WINDOW_S])), last_t
        return None, None

    span = _phase_span(record, Phase.RECOVERY, lambda: last_data_from_arrays(record, arrays))
    return _baseline_comparisons(
        session_baseline(record), span, heart_rate_parameter_from_arrays(record, arrays), end_of
    )


def return_to_baseline_from_arrays(
    record: SessionRecord, arrays: dict[Parameter, TrendArrays], tolerance: float = RETURN_TOLERANCE
) -> list[ReturnToBaseline]:
    """As :func:`return_to_baseline`."""

    def series_of(parameter: Parameter) -> list[tuple[float, float]]:
        t, v = _reliable(arrays, parameter)
        return list(zip(t.tolist(), v.tolist(), strict=True))

    return _returns_to_baseline(record, heart_rate_parameter_from_arrays(record, arrays), series_of, tolerance)


def has_waveform(store: Reader, session_id: str, parameter: Parameter = Parameter.PLETH) -> bool:
    """Whether any samples of a waveform were kept for the session (without reading them)."""
    return store.has_waveform(session_id, parameter)


def waveform_arrays(
    store: Reader, session_id: str, parameter: Parameter = Parameter.PLETH,
    start: float | None = None, end: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """The samples of a stored waveform as (times, values) arrays; empty arrays when none was kept.

    With ``start`` and ``end``, only the stored blocks that overlap that time window are read (a
    review reads the few minutes on screen, not a whole day of 75 Hz samples). A gap between
    stored blocks (the probe was off, the link was lost) is kept as a NaN sample so a chart does
    not draw a line across it.
    """
    times: list[FloatArray] = []
    values: list[FloatArray] = []
    last_end: float | None = None
    for t0, rate, n, blob in store.waveform_blocks(session_id, parameter, start, end):
        if not n or not rate:
            continue
        if last_end is not None and t0 - last_end > 3.0 / rate:
            times.append(np.array([last_end + 1.0 / rate]))
            values.append(np.array([np.nan]))
        block_t = t0 + np.arange(n, dtype=np.float64) / rate
        times.append(block_t)
        values.append(np.frombuffer(blob, dtype=np.float32).astype(np.float64))
        last_end = float(block_t[-1])
    if not times:
        return np.empty(0), np.empty(0)
    return np.concatenate(times), np.concatenate(values)


