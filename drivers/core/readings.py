"""What a vital-sign reading is: parameter, value, UCUM unit, status flags, source and time."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final


class Parameter(StrEnum):
    """The vital signs the monitor records."""

    HR = "hr"
    PR = "pr"
    SPO2 = "spo2"
    NIBP_SYS = "nibp_sys"
    NIBP_DIA = "nibp_dia"
    NIBP_MEAN = "nibp_mean"
    PLETH = "pleth"
    #: Ventilation, recorded only where the device measures it (capnography, impedance respiration).
    RR = "rr"
    ETCO2 = "etco2"


UNITS: Final[dict[Parameter, str]] = {
    Parameter.HR: "/min",
    Parameter.PR: "/min",
    Parameter.SPO2: "%",
    Parameter.NIBP_SYS: "mm[Hg]",
    Parameter.NIBP_DIA: "mm[Hg]",
    Parameter.NIBP_MEAN: "mm[Hg]",
    Parameter.PLETH: "1",
    Parameter.RR: "/min",
    Parameter.ETCO2: "mm[Hg]",
}

NIBP_PARAMETERS: Final = (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN)
NUMERIC_PARAMETERS: Final = (Parameter.HR, Parameter.PR, Parameter.SPO2, *NIBP_PARAMETERS)
#: Optional parameters: a session has them only when its device measures them.
VENTILATION_PARAMETERS: Final = (Parameter.RR, Parameter.ETCO2)
#: Every numeric parameter a session may record (the core ones, then the optional ones).
ALL_NUMERIC_PARAMETERS: Final = (*NUMERIC_PARAMETERS, *VENTILATION_PARAMETERS)

# Physiologically possible ranges; anything outside is a decoding error, never a value.
PLAUSIBLE_RANGE: Final[dict[Parameter, tuple[float, float]]] = {
    Parameter.HR: (0.0, 350.0),
    Parameter.PR: (0.0, 350.0),
    Parameter.SPO2: (0.0, 100.0),
    Parameter.NIBP_SYS: (0.0, 350.0),
    Parameter.NIBP_DIA: (0.0, 300.0),
    Parameter.NIBP_MEAN: (0.0, 320.0),
    Parameter.PLETH: (-1e6, 1e6),
    Parameter.RR: (0.0, 150.0),
    Parameter.ETCO2: (0.0, 150.0),
}


class Flag(StrEnum):
    """Status marks a device attaches to a value (or to its absence)."""

    ARTIFACT = "artifact"
    LOW_PERFUSION = "low_perfusion"
    SENSOR_OFF = "sensor_off"
    NO_SENSOR = "no_sensor"
    SENSOR_DEFECT = "sensor_defect"
    SENSOR_ALARM = "sensor_alarm"
    UNRECOGNISED_SENSOR = "unrecognised_sensor"
    PULSE_SEARCH = "pulse_search"
    INTERFERENCE = "interference"
    AMBIENT_LIGHT = "ambient_light"
    LOW_SIGNAL_IQ = "low_signal_iq"
    OUT_OF_TRACK = "out_of_track"
    MOTION = "motion"
    PERFUSION_MARGINAL = "perfusion_marginal"
    QUESTIONABLE = "questionable"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"
    CALIBRATING = "calibrating"
    DEMO_DATA = "demo_data"
    TEST_DATA = "test_data"
    IN_ALARM = "in_alarm"
    MEASUREMENT_FAILED = "measurement_failed"


# Flags that mean the value must not be trusted for alarms, baselines or statistics.
UNRELIABLE: Final = frozenset(
    {
        Flag.ARTIFACT,
        Flag.SENSOR_OFF,
        Flag.NO_SENSOR,
        Flag.SENSOR_DEFECT,
        Flag.PULSE_SEARCH,
        Flag.INVALID,
        Flag.UNAVAILABLE,
        Flag.CALIBRATING,
        Flag.DEMO_DATA,
        Flag.TEST_DATA,
        Flag.MEASUREMENT_FAILED,
        Flag.OUT_OF_TRACK,
    }
)

# Flags that say the probe or cuff is not delivering a signal at all.
NO_SIGNAL: Final = frozenset(
    {Flag.SENSOR_OFF, Flag.NO_SENSOR, Flag.SENSOR_DEFECT, Flag.PULSE_SEARCH, Flag.UNRECOGNISED_SENSOR}
)

NO_FLAGS: Final[frozenset[Flag]] = frozenset()


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one parameter, stamped by its source.

    ``t`` is UTC seconds since the epoch as given by the source (device clock, receive time
    of the bytes, or the simulator's clock); nothing downstream re-stamps it. ``value`` is
    None when the device reports the value as missing (dashes, 127, 511, NaN); a missing
    value is never stored as a number.
    """

    t: float
    parameter: Parameter
    value: float | None
    source: str
    flags: frozenset[Flag] = field(default=NO_FLAGS)

    @property
    def unit(self) -> str:
        """UCUM unit of the parameter."""
        return UNITS[self.parameter]

    @property
    def reliable(self) -> bool:
        """True when the value exists and no flag makes it untrustworthy."""
        return self.value is not None and not (self.flags & UNRELIABLE)

    @property
    def status(self) -> str:
        """Flags as a stable, comma-separated text (empty when there are none)."""
        return flags_text(self.flags)


def spo2_and_pr(readings: Iterable[Reading]) -> tuple[Reading | None, Reading | None, frozenset[Flag]]:
    """The SpO2 and pulse-rate readings among ``readings`` (None when absent) and their flags together.

    What an oximeter's output line carries; the emulated oximeters write their lines from it.
    """
    by = {r.parameter: r for r in readings}
    spo2 = by.get(Parameter.SPO2)
    pr = by.get(Parameter.PR)
    flags: frozenset[Flag] = frozenset().union(*(r.flags for r in (spo2, pr) if r is not None))
    return spo2, pr, flags


def flags_text(flags: frozenset[Flag] | frozenset[str]) -> str:
    """Comma-separated, sorted flag names."""
    return ",".join(sorted(str(f) for f in flags))


def parse_flags(text: str | None) -> frozenset[Flag]:
    """Inverse of :func:`flags_text`; unknown names are ignored."""
    if not text:
        return NO_FLAGS
    known = {f.value for f in Flag}
    return frozenset(Flag(name) for name in text.split(",") if name in known)


def is_plausible(parameter: Parameter, value: float | None) -> bool:
    """Whether a decoded value lies in the physiologically possible range."""
    if value is None:
        return True
    if not math.isfinite(value):
        return False
    low, high = PLAUSIBLE_RANGE[parameter]
    return low <= value <= high


def iso_utc(t: float) -> str:
    """ISO 8601 text with an explicit UTC offset, millisecond precision."""
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds")


#: Samples per second of the plethysmogram the simulator and the oximeters give, and the store keeps.
PLETH_RATE_HZ: Final = 75.0
