"""Value types of the IntelliVue Data Export protocol: FLOAT, measurement state, physiological ids, units."""

from __future__ import annotations

import calendar
import math
import time
from typing import Final

from drivers.core.readings import Flag, Parameter

# -- FLOAT-Type: int8 exponent | int24 mantissa, value = mantissa * 10 ** exponent -------------

FLOAT_NAN: Final = 0x007FFFFF
FLOAT_NRES: Final = 0x00800000
FLOAT_POS_INF: Final = 0x007FFFFE
FLOAT_NEG_INF: Final = 0x00800002
# Reserved mantissas mean "no number" whatever the exponent byte says.
_SPECIAL_MANTISSAS: Final = frozenset({0x7FFFFF, 0x800000, 0x7FFFFE, 0x800002, 0x800001})

_MANTISSA_MAX: Final = 0x7FFFFD  # largest ordinary mantissa
_MANTISSA_MIN: Final = -0x7FFFFD


def decode_float(raw: int) -> float | None:
    """Decode a 32-bit FLOAT-Type; NaN, NRes and the infinities come back as None (missing)."""
    raw &= 0xFFFFFFFF
    mantissa = raw & 0xFFFFFF
    if mantissa in _SPECIAL_MANTISSAS:
        return None
    exponent = raw >> 24
    if exponent >= 0x80:
        exponent -= 0x100
    if mantissa >= 0x800000:
        mantissa -= 0x1000000
    # Divide rather than multiply by 10**-n so that e.g. 32000e-3 is exactly 32.0.
    value = mantissa / 10 ** (-exponent) if exponent < 0 else float(mantissa * 10**exponent)
    return value if math.isfinite(value) else None


def encode_float(value: float | None, decimals: int = 0) -> int:
    """Encode a value with ``decimals`` digits after the point (None encodes as NaN)."""
    if value is None or not math.isfinite(value):
        return FLOAT_NAN
    exponent = -decimals
    mantissa = round(value * 10.0**decimals)
    while not _MANTISSA_MIN <= mantissa <= _MANTISSA_MAX:
        exponent += 1
        mantissa = round(value / 10.0**exponent)
        if exponent > 127:
            return FLOAT_POS_INF if value > 0 else FLOAT_NEG_INF
    return ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)


# -- MeasurementState bits ---------------------------------------------------------------

STATE_FLAGS: Final[dict[int, Flag]] = {
    0x8000: Flag.INVALID,
    0x4000: Flag.QUESTIONABLE,
    0x2000: Flag.UNAVAILABLE,
    0x1000: Flag.CALIBRATING,
    0x0800: Flag.TEST_DATA,
    0x0400: Flag.DEMO_DATA,
}


def state_flags(state: int) -> frozenset[Flag]:
    """Status flags for a MeasurementState word."""
    return frozenset(flag for bit, flag in STATE_FLAGS.items() if state & bit)


# -- nomenclature --------------------------------------------------------------------------

NOM_ECG_CARD_BEAT_RATE: Final = 0x4182
NOM_PLETH_PULS_RATE: Final = 0x4822
NOM_PULS_OXIM_SAT_O2: Final = 0x4BB8
NOM_PRESS_BLD_NONINV: Final = 0x4A04
NOM_PRESS_BLD_NONINV_SYS: Final = 0x4A05
NOM_PRESS_BLD_NONINV_DIA: Final = 0x4A06
NOM_PRESS_BLD_NONINV_MEAN: Final = 0x4A07
NOM_PRESS_BLD_NONINV_PULS_RATE: Final = 0xF0E5
# Respiration (partition SCADA, code + 0x20000 = MDC code): impedance RR is MDC 151562, airway
# (capnography) RR 151570; end-tidal CO2 as IntelliVue labels it "etCO2" (NOM_AWAY_CO2_ET) and
# the concentration form MDC 151708 (NOM_CONC_AWAY_CO2_ET). Codes as in the public host VSCaptureMP.
NOM_RESP_RATE: Final = 0x500A
NOM_AWAY_RESP_RATE: Final = 0x5012
NOM_CONC_AWAY_CO2_ET: Final = 0x509C
NOM_AWAY_CO2_ET: Final = 0x50B0

NOM_DIM_BEAT_PER_MIN: Final = 0x0AA0
NOM_DIM_RESP_PER_MIN: Final = 0x0AE0
NOM_DIM_PERCENT: Final = 0x0220
NOM_DIM_MMHG: Final = 0x0F20
NOM_DIM_KILO_PASCAL: Final = 0x0F03

MMHG_PER_KPA: Final = 7.50062

PHYSIO_PARAMETER: Final[dict[int, Parameter]] = {
    NOM_ECG_CARD_BEAT_RATE: Parameter.HR,
    NOM_PLETH_PULS_RATE: Parameter.PR,
    NOM_PULS_OXIM_SAT_O2: Parameter.SPO2,
    NOM_PRESS_BLD_NONINV_SYS: Parameter.NIBP_SYS,
    NOM_PRESS_BLD_NONINV_DIA: Parameter.NIBP_DIA,
    NOM_PRESS_BLD_NONINV_MEAN: Parameter.NIBP_MEAN,
    NOM_RESP_RATE: Parameter.RR,
    NOM_AWAY_RESP_RATE: Parameter.RR,
    NOM_AWAY_CO2_ET: Parameter.ETCO2,
    NOM_CONC_AWAY_CO2_ET: Parameter.ETCO2,
}

#: Where a monitor reports the same parameter under two ids, the first one here wins in a poll
#: (impedance RR is the MDC code the exports use; the airway RR is taken when it is the only one).
PREFERRED_PHYSIO: Final[dict[Parameter, tuple[int, ...]]] = {
    Parameter.RR: (NOM_RESP_RATE, NOM_AWAY_RESP_RATE),
    Parameter.ETCO2: (NOM_AWAY_CO2_ET, NOM_CONC_AWAY_CO2_ET),
}

# The units each parameter may arrive in, with the factor to the recorded unit; anything else is
# rejected rather than guessed at (etCO2 in % would need the barometric pressure).
ACCEPTED_UNITS: Final[dict[Parameter, dict[int, float]]] = {
    Parameter.HR: {NOM_DIM_BEAT_PER_MIN: 1.0},
    Parameter.PR: {NOM_DIM_BEAT_PER_MIN: 1.0},
    Parameter.SPO2: {NOM_DIM_PERCENT: 1.0},
    Parameter.NIBP_SYS: {NOM_DIM_MMHG: 1.0, NOM_DIM_KILO_PASCAL: MMHG_PER_KPA},
    Parameter.NIBP_DIA: {NOM_DIM_MMHG: 1.0, NOM_DIM_KILO_PASCAL: MMHG_PER_KPA},
    Parameter.NIBP_MEAN: {NOM_DIM_MMHG: 1.0, NOM_DIM_KILO_PASCAL: MMHG_PER_KPA},
    Parameter.RR: {NOM_DIM_RESP_PER_MIN: 1.0},
    Parameter.ETCO2: {NOM_DIM_MMHG: 1.0, NOM_DIM_KILO_PASCAL: MMHG_PER_KPA},
}

#: The unit the emulator reports each parameter in by default.
EXPECTED_UNIT: Final[dict[Parameter, int]] = {
    Parameter.HR: NOM_DIM_BEAT_PER_MIN,
    Parameter.PR: NOM_DIM_BEAT_PER_MIN,
    Parameter.SPO2: NOM_DIM_PERCENT,
    Parameter.NIBP_SYS: NOM_DIM_MMHG,
    Parameter.NIBP_DIA: NOM_DIM_MMHG,
    Parameter.NIBP_MEAN: NOM_DIM_MMHG,
    Parameter.RR: NOM_DIM_RESP_PER_MIN,
    Parameter.ETCO2: NOM_DIM_MMHG,
}


def to_recorded_unit(parameter: Parameter, unit: int, value: float | None) -> tuple[bool, float | None]:
    """(accepted, value in the recorded unit); a unit not accepted for the parameter gives (False, None)."""
    factor = ACCEPTED_UNITS[parameter].get(unit)
    if factor is None:
        return False, None
    if value is None or factor == 1.0:
        return True, value
    return True, round(value * factor, 1)


# -- absolute time (BCD): century, year, month, day, hour, minute, second, hundredths ------------


def _bcd(byte: int) -> int | None:
    high, low = byte >> 4, byte & 0x0F
    return None if high > 9 or low > 9 else high * 10 + low


def decode_abs_time(raw: bytes) -> float | None:
    """Seconds since 1970 of a BCD AbsoluteTime read *as if it were UTC* (None when unset or invalid).

    The monitor's clock is usually set to local time, so the result is a naive clock reading; the
    decoder turns it into UTC through the offset between the monitor's clock and receive time.
    """
    if len(raw) != 8:
        return None
    digits = [_bcd(b) for b in raw]
    if any(d is None for d in digits[:7]):
        return None
    century, year, month, day, hour, minute, second = (d or 0 for d in digits[:7])
    hundredths = digits[7] or 0
    full_year = century * 100 + year
    if full_year < 1990 or not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        return None
    try:
        base = calendar.timegm((full_year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    return base + hundredths / 100.0


def encode_abs_time(naive_seconds: float) -> bytes:
    """Inverse of :func:`decode_abs_time` (for the emulator and tests)."""
    whole = int(naive_seconds)
    parts = time.gmtime(whole)
    hundredths = round((naive_seconds - whole) * 100) % 100

    def bcd(n: int) -> int:
        return (n // 10) << 4 | n % 10

    return bytes(
        bcd(v)
        for v in (
            parts.tm_year // 100,
            parts.tm_year % 100,
            parts.tm_mon,
            parts.tm_mday,
            parts.tm_hour,
            parts.tm_min,
            parts.tm_sec,
            hundredths,
        )
    )
