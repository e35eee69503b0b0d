"""A seeded, simulated patient receiving IV ketamine, with named scenarios.

The model is a pure function of its seed and of time: the same seed and the same sequence of
calls give the same readings, at any replay speed. Times are seconds since the epoch (UTC).

Physiology (CLINICAL.md): HR 65-95 with beat-to-beat noise, SpO2 95-99 %, NIBP rising about
+15/+10 mmHg with a peak 30-40 min into the infusion and falling off during recovery. With
capnography (the ``capnography`` and ``respiratory_depression`` scenarios) the monitor also
reports a respiratory rate of 12-16/min and an end-tidal CO2 of 35-40 mmHg; other scenarios have
no ventilation values at all, as most chairs' monitors do not measure them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from drivers.core.clock import SECONDS_PER_MINUTE
from drivers.core.phases import PhaseTimes
from drivers.core.readings import NIBP_PARAMETERS, PLETH_RATE_HZ, Flag, Parameter, Reading

SCENARIOS: dict[str, str] = {
    "normal": "an uneventful session",
    "hypertension": "systolic above 185 mmHg around minute 30 of the infusion",
    "desaturation": "SpO2 falls to 86 % for 60 s at infusion minute 20",
    "bradycardia": "heart rate near 42/min for 2 min at infusion minute 15",
    "probe_off": "the SpO2 probe comes off for 60 s at infusion minute 10",
    "cuff_failure": "every cuff measurement fails from infusion minute 10",
    "link_loss": "the device link drops for 45 s at infusion minute 12",
    "flicker_desaturation": "SpO2 85 % for 4 s then 93 % for 1 s, repeated for 60 s, at infusion minute 20",
    "spo2_dashes": "SpO2 and pulse rate arrive without a value and without any sensor flag for 60 s at infusion "
    "minute 10",
    "failed_cuff_after_high": "the first cuff from infusion minute 20 reads about 175/112; the cuffs after it fail "
    "until minute 35",
    "hypertensive_baseline": "blood pressure about 172/104 until the infusion starts (above the hold threshold)",
    "capnography": "an uneventful session on a monitor with capnography (respiratory rate and EtCO2)",
    "respiratory_depression": "with capnography: RR falls to 6/min and EtCO2 rises to 55 mmHg at infusion "
    "minute 18, then no breath for 30 s",
    "soak": "every event above once, each at its own infusion minute (probe off 5, dashes 9, link loss 12, "
    "bradycardia 16, desaturation 22, flicker 26, hypertension 32, high cuff then failures 38, cuff failures 45-53), "
    "with a hypertensive baseline",
}

# Scenario timing, minutes after the infusion starts.
DESAT_START_MIN = 20.0
DESAT_HOLD_S = 60.0
DESAT_RAMP_S = 20.0
DESAT_FLOOR = 86.0
BRADY_START_MIN = 15.0
BRADY_HOLD_S = 120.0
BRADY_RATE = 42.0
PROBE_OFF_START_MIN = 10.0
PROBE_OFF_S = 60.0
CUFF_FAIL_START_MIN = 10.0
LINK_LOSS_START_MIN = 12.0
LINK_LOSS_S = 45.0
HYPERTENSION_PEAK_MIN = 30.0
CUFF_DURATION_S = 35.0
FLICKER_START_MIN = 20.0
FLICKER_S = 60.0
FLICKER_LOW_S, FLICKER_HIGH_S = 4, 1
FLICKER_VALUES = (85.0, 93.0)
DASHES_START_MIN = 10.0
DASHES_S = 60.0
HIGH_CUFF_START_MIN = 20.0
HIGH_CUFF = (175.0, 112.0)
HIGH_CUFF_FAILS_UNTIL_MIN = 15.0  # minutes after the high cuff's window opens
BASELINE_BP = (172.0, 104.0)

# The composite "soak" scenario: each event once, at its own infusion minute, so that they do not overlap.
SOAK_START_MIN: dict[str, float] = {
    "probe_off": 5.0,
    "spo2_dashes": 9.0,
    "link_loss": 12.0,
    "bradycardia": 16.0,
    "desaturation": 22.0,
    "flicker_desaturation": 26.0,
    "hypertension": 32.0,
    "failed_cuff_after_high": 38.0,
    "cuff_failure": 45.0,
}
#: In the soak, the cuffs after the high one fail for this long (then the next event's window follows).
SOAK_HIGH_CUFF_FAILS_MIN = 6.0
SOAK_CUFF_FAIL_S = 8 * 60.0

# Ventilation (only in the scenarios whose monitor has capnography).
VENTILATION_SCENARIOS = frozenset({"capnography", "respiratory_depression"})
RESP_DEPRESSION_START_MIN = 18.0
RESP_DEPRESSION_S = 90.0  # hypoventilation, the last APNOEA_S of it without a breath
APNOEA_S = 30.0
DEPRESSED_RR = 6.0
HYPERCAPNIC_ETCO2 = 55.0


class ScenarioError(ValueError):
    """An unknown scenario name."""


def check_scenario(name: str) -> str:
    """Return ``name`` if it is a known scenario, else raise with the list of names."""
    if name not in SCENARIOS:
        raise ScenarioError(f"unknown scenario '{name}'; choose from {', '.join(SCENARIOS)}")
    return name


@dataclass(frozen=True, slots=True)
class Window:
    """A span of time, [start, end)."""

    start: float
    end: float

    def __contains__(self, t: float) -> bool:
        return self.start <= t < self.end


def ketamine_effect(minutes_since_start: float, infusion_min: float) -> float:
    """Fraction (0-1) of the peak haemodynamic response to the infusion.

    Rises to its peak about 35 min in, holds near it to the end of the infusion, then fades
    with a 12-minute time constant.
    """
    if minutes_since_start <= 0:
        return 0.0
    peak_at = 35.0
    if minutes_since_start <= min(peak_at, infusion_min):
        return float((minutes_since_start / peak_at) ** 1.3)
    at_stop = (min(peak_at, infusion_min) / peak_at) ** 1.3
    if minutes_since_start <= infusion_min:
        return float(max(0.0, 1.0 - 0.004 * (minutes_since_start - peak_at)))
    level = at_stop if infusion_min <= peak_at else max(0.0, 1.0 - 0.004 * (infusion_min - peak_at))
    return float(level * math.exp(-(minutes_since_start - infusion_min) / 12.0))


class SimulatedPatient:
    """Vital signs of one simulated patient over a session."""

    def __init__(
        self,
        scenario: str = "normal",
        seed: int = 1,
        start: float = 0.0,
        plan: PhaseTimes | None = None,
        follows_session: bool = False,
    ) -> None:
        """A patient whose events are timed from the infusion start.

        A patient that ``follows_session`` (the simulated monitor, told of every phase change) has no
        infusion until it is told one started, so its events happen at their minute of the real
        infusion whoever moves the phases. One that does not (an emulated device on a cable, which
        never hears of the session) assumes the infusion starts after the plan's baseline.
        """
        self.scenario = check_scenario(scenario)
        self.seed = seed
        self.start = start
        self.plan = plan or PhaseTimes()
        rng = random.Random(seed)
        self.base_hr = rng.uniform(68.0, 82.0)
        self.base_spo2 = rng.uniform(97.0, 98.5)
        self.base_sys = rng.uniform(116.0, 132.0)
        self.base_dia = rng.uniform(70.0, 82.0)
        self._noise = random.Random(seed * 7919 + 1)
        self._hr_dev = 0.0
        self._spo2_dev = 0.0
        self.infusion_start: float = (
            math.inf if follows_session else start + self.plan.baseline_min * SECONDS_PER_MINUTE
        )
        self.infusion_stop: float | None = None
        self._pleth_phase = 0.0
        self._high_cuff_at: float | None = None
        # Ventilation draws from its own generator, so the other values of a seed do not change.
        self.ventilation = self.scenario in VENTILATION_SCENARIOS
        vent = random.Random(seed * 104729 + 7)
        self.base_rr = vent.uniform(12.0, 16.0)
        self.base_etco2 = vent.uniform(35.0, 40.0)
        self._vent_noise = vent

    # -- session timeline ------------------------------------------------------------------

    def infusion_started(self, at: float) -> None:
        """The drug starts running at ``at``."""
        self.infusion_start = at
        self.infusion_stop = None

    def infusion_stopped(self, at: float) -> None:
        """The drug stops at ``at``."""
        self.infusion_stop = at

    def infusion_minutes(self, t: float) -> float:
        """Minutes since the infusion started (negative before; minus infinity before it is known)."""
        return (t - self.infusion_start) / SECONDS_PER_MINUTE

    def in_baseline(self, t: float) -> bool:
        """Before the infusion starts."""
        return t < self.infusion_start

    def _planned_infusion_min(self) -> float:
        if self.infusion_stop is not None:
            return (self.infusion_stop - self.infusion_start) / SECONDS_PER_MINUTE
        return self.plan.infusion_min

    def _window(self, start_min: float, seconds: float) -> Window:
        begin = self.infusion_start + start_min * SECONDS_PER_MINUTE
        return Window(begin, begin + seconds)

    def _start_min(self, event: str, default: float) -> float | None:
        """Infusion minute at which ``event`` happens in this scenario (None: it does not)."""
        if self.scenario == event:
            return default
        if self.scenario == "soak":
            return SOAK_START_MIN.get(event)
        return None

    def link_down(self, t: float) -> bool:
        """Whether the simulated link is cut at ``t``."""
        return any(t in w for w in self.link_windows())

    def link_windows(self) -> list[Window]:
        """Spans in which the link is cut."""
        start = self._start_min("link_loss", LINK_LOSS_START_MIN)
        return [] if start is None else [self._window(start, LINK_LOSS_S)]

    # -- true physiology -------------------------------------------------------------------

    def _effect(self, t: float) -> float:
        return ketamine_effect(self.infusion_minutes(t), self._planned_infusion_min())

    def heart_rate(self, t: float) -> float:
        """Underlying heart rate without beat-to-beat noise."""
        hr = self.base_hr + 8.0 * self._effect(t)
        start = self._start_min("bradycardia", BRADY_START_MIN)
        if start is not None:
            w = self._window(start, BRADY_HOLD_S)
            hr = _blend(hr, BRADY_RATE, _plateau(t, w, 20.0))
        return hr

    def spo2(self, t: float) -> float:
        """Underlying saturation."""
        value = self.base_spo2
        start = self._start_min("desaturation", DESAT_START_MIN)
        if start is not None:
            w = self._window(start, DESAT_HOLD_S)
            value = _blend(value, DESAT_FLOOR, _plateau(t, w, DESAT_RAMP_S))
        flicker = self.flicker(t)
        return value if flicker is None else flicker

    def flicker(self, t: float) -> float | None:
        """The flickering probe's value at ``t`` (None outside the flicker): 4 s at 85 %, 1 s at 93 %."""
        start = self._start_min("flicker_desaturation", FLICKER_START_MIN)
        if start is None:
            return None
        w = self._window(start, FLICKER_S)
        if t not in w:
            return None
        second = int(t - w.start) % (FLICKER_LOW_S + FLICKER_HIGH_S)
        return FLICKER_VALUES[0] if second < FLICKER_LOW_S else FLICKER_VALUES[1]

    def dashes(self, t: float) -> bool:
        """Whether the oximeter sends dashes (no value, no flag) at ``t``."""
        start = self._start_min("spo2_dashes", DASHES_START_MIN)
        return start is not None and t in self._window(start, DASHES_S)

    def blood_pressure(self, t: float) -> tuple[float, float]:
        """Underlying systolic and diastolic pressure."""
        effect = self._effect(t)
        sys_v = self.base_sys + 15.0 * effect
        dia_v = self.base_dia + 10.0 * effect
        peak = self._start_min("hypertension", HYPERTENSION_PEAK_MIN)
        if peak is not None and self.infusion_start < math.inf:
            bump = math.exp(-0.5 * ((self.infusion_minutes(t) - peak) / 6.0) ** 2)
            sys_v += 58.0 * bump
            dia_v += 24.0 * bump
        if self.scenario in ("hypertensive_baseline", "soak") and self.in_baseline(t):
            sys_v, dia_v = BASELINE_BP
        return sys_v, dia_v

    def _apnoea(self, t: float) -> bool:
        start = self._start_min("respiratory_depression", RESP_DEPRESSION_START_MIN)
        if start is None:
            return False
        begin = self.infusion_start + start * SECONDS_PER_MINUTE + RESP_DEPRESSION_S - APNOEA_S
        return begin <= t < begin + APNOEA_S

    def _breathing(self, t: float, normal: float, depressed: float, ramp_s: float) -> float:
        """A breathing value: 0 in apnoea, moving from ``normal`` to ``depressed`` (ramp ``ramp_s``)
        while the respiratory depression lasts."""
        if self._apnoea(t):
            return 0.0
        start = self._start_min("respiratory_depression", RESP_DEPRESSION_START_MIN)
        if start is None:
            return normal
        return _blend(normal, depressed, _plateau(t, self._window(start, RESP_DEPRESSION_S), ramp_s))

    def respiratory_rate(self, t: float) -> float:
        """Underlying breaths per minute (0 while no breath comes)."""
        return self._breathing(t, self.base_rr, DEPRESSED_RR, 20.0)

    def etco2(self, t: float) -> float:
        """Underlying end-tidal CO2, mmHg (0 without a breath: no exhaled gas reaches the sensor)."""
        return self._breathing(t, self.base_etco2, HYPERCAPNIC_ETCO2, 30.0)

    def probe_off(self, t: float) -> bool:
        """Whether the SpO2 probe is off the finger at ``t``."""
        start = self._start_min("probe_off", PROBE_OFF_START_MIN)
        return start is not None and t in self._window(start, PROBE_OFF_S)

    def cuff_fails(self, t: float) -> bool:
        """Whether a cuff measurement finishing at ``t`` fails."""
        if self.scenario == "soak" and t in self._window(SOAK_START_MIN["cuff_failure"], SOAK_CUFF_FAIL_S):
            return True
        if self.scenario == "cuff_failure":
            return self.infusion_minutes(t) >= CUFF_FAIL_START_MIN
        return self._after_high_cuff(t)

    def _high_cuff_window(self) -> Window | None:
        start = self._start_min("failed_cuff_after_high", HIGH_CUFF_START_MIN)
        if start is None:
            return None
        until = SOAK_HIGH_CUFF_FAILS_MIN if self.scenario == "soak" else HIGH_CUFF_FAILS_UNTIL_MIN
        return self._window(start, until * SECONDS_PER_MINUTE)

    def _after_high_cuff(self, t: float) -> bool:
        w = self._high_cuff_window()
        return w is not None and self._high_cuff_at is not None and t > self._high_cuff_at and t in w

    # -- what a monitor reports ------------------------------------------------------------

    def numerics(self, t: float, source: str) -> list[Reading]:
        """One second's HR, PR and SpO2 (call once per second, in time order)."""
        self._hr_dev = 0.85 * self._hr_dev + self._noise.gauss(0.0, 1.1)
        self._spo2_dev = 0.9 * self._spo2_dev + self._noise.gauss(0.0, 0.25)
        hr_true = self.heart_rate(t)
        hr = round(min(max(hr_true + self._hr_dev, 30.0), 200.0))
        pr = round(min(max(hr_true + self._hr_dev + self._noise.gauss(0.0, 0.6), 30.0), 200.0))
        spo2 = round(min(max(self.spo2(t) + self._spo2_dev, 50.0), 100.0))
        if self.scenario not in ("desaturation", "soak"):
            spo2 = min(max(spo2, 95), 99)
        if self.flicker(t) is not None:
            spo2 = round(self.spo2(t))  # the flicker is what the probe reports, without smoothing
        out = [Reading(t, Parameter.HR, float(hr), source)]
        if self.probe_off(t):
            off = frozenset({Flag.SENSOR_OFF})
            out += [Reading(t, Parameter.PR, None, source, off), Reading(t, Parameter.SPO2, None, source, off)]
        elif self.dashes(t):
            # Dashes with no exception bit: readings keep coming, but carry no value.
            out += [Reading(t, Parameter.PR, None, source), Reading(t, Parameter.SPO2, None, source)]
        else:
            out += [Reading(t, Parameter.PR, float(pr), source), Reading(t, Parameter.SPO2, float(spo2), source)]
        if self.ventilation:
            rr = self.respiratory_rate(t)
            co2 = self.etco2(t)
            noise = self._vent_noise
            rr_v = 0.0 if rr == 0.0 else round(min(max(rr + noise.gauss(0.0, 0.7), 1.0), 60.0))
            co2_v = 0.0 if co2 == 0.0 else round(min(max(co2 + noise.gauss(0.0, 0.8), 5.0), 90.0))
            out += [Reading(t, Parameter.RR, float(rr_v), source), Reading(t, Parameter.ETCO2, float(co2_v), source)]
        return out

    def cuff(self, t: float, source: str) -> list[Reading]:
        """A cuff measurement finishing at ``t`` (systolic, diastolic, mean)."""
        if self.cuff_fails(t):
            failed = frozenset({Flag.MEASUREMENT_FAILED})
            return [Reading(t, p, None, source, failed) for p in NIBP_PARAMETERS]
        rng = random.Random(f"{self.seed}:{round(t, 3)}")
        sys_true, dia_true = self.blood_pressure(t)
        sys_v = round(sys_true + rng.gauss(0.0, 3.0))
        dia_v = round(dia_true + rng.gauss(0.0, 2.0))
        window = self._high_cuff_window()
        if window is not None and self._high_cuff_at is None and t in window:
            self._high_cuff_at = t  # the first cuff of the window is the high one; the ones after it fail
            sys_v, dia_v = round(HIGH_CUFF[0]), round(HIGH_CUFF[1])
        mean_v = round(dia_v + (sys_v - dia_v) / 3.0)
        return [
            Reading(t, Parameter.NIBP_SYS, float(sys_v), source),
            Reading(t, Parameter.NIBP_DIA, float(dia_v), source),
            Reading(t, Parameter.NIBP_MEAN, float(mean_v), source),
        ]

    def pleth(self, t0: float, count: int, source: str, rate: float = PLETH_RATE_HZ) -> Iterator[Reading]:
        """``count`` pleth samples from ``t0`` at ``rate`` Hz (call with consecutive spans)."""
        off = self.probe_off(t0)
        step = 1.0 / rate
        beats_per_s = self.heart_rate(t0) / 60.0
        for i in range(count):
            t = t0 + i * step
            self._pleth_phase = (self._pleth_phase + beats_per_s * step) % 1.0
            if off:
                yield Reading(t, Parameter.PLETH, None, source, frozenset({Flag.SENSOR_OFF}))
            else:
                yield Reading(t, Parameter.PLETH, round(_pulse_shape(self._pleth_phase), 2), source)


def _pulse_shape(phase: float) -> float:
    """A pleth pulse: fast upstroke, dicrotic notch, slow decay (0-100 a.u.)."""
    systolic = math.exp(-(((phase - 0.18) / 0.08) ** 2))
    dicrotic = 0.35 * math.exp(-(((phase - 0.45) / 0.1) ** 2))
    return 10.0 + 85.0 * (systolic + dicrotic) / 1.05


def _plateau(t: float, w: Window, ramp_s: float) -> float:
    """0 outside the window, 1 inside, with linear ramps of ``ramp_s`` before and after."""
    if t < w.start - ramp_s or t >= w.end + ramp_s:
        return 0.0
    if t < w.start:
        return (t - (w.start - ramp_s)) / ramp_s
    if t < w.end:
        return 1.0
    return 1.0 - (t - w.end) / ramp_s


def _blend(a: float, b: float, weight: float) -> float:
    return a + (b - a) * weight
