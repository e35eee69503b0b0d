"""Value types of the IntelliVue Data Export protocol: FLOAT, measurement state, physiological ids, units."""

from __future__ import annotations

import math
from typing import Final

from monitor.readings import Flag, Parameter

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


def state_word(flags: frozenset[Flag]) -> int:
    """Inverse of :func:`state_flags` (for the emulator and tests)."""
    return sum(bit for bit, flag in STATE_FLAGS.items() if flag in flags)


# -- nomenclature --------------------------------------------------------------------------

NOM_ECG_CARD_BEAT_RATE: Final = 0x4182
NOM_PLETH_PULS_RATE: Final = 0x4822
NOM_PULS_OXIM_SAT_O2: Final = 0x4BB8
NOM_PRESS_BLD_NONINV: Final = 0x4A04
NOM_PRESS_BLD_NONINV_SYS: Final = 0x4A05
NOM_PRESS_BLD_NONINV_DIA: Final = 0x4A06
NOM_PRESS_BLD_NONINV_MEAN: Final = 0x4A07
NOM_PRESS_BLD_NONINV_PULS_RATE: Final = 0xF0E5

NOM_DIM_BEAT_PER_MIN: Final = 0x0AA0
NOM_DIM_PERCENT: Final = 0x0220
NOM_DIM_MMHG: Final = 0x0F20

PHYSIO_PARAMETER: Final[dict[int, Parameter]] = {
    NOM_ECG_CARD_BEAT_RATE: Parameter.HR,
    NOM_PLETH_PULS_RATE: Parameter.PR,
    NOM_PULS_OXIM_SAT_O2: Parameter.SPO2,
    NOM_PRESS_BLD_NONINV_SYS: Parameter.NIBP_SYS,
    NOM_PRESS_BLD_NONINV_DIA: Parameter.NIBP_DIA,
    NOM_PRESS_BLD_NONINV_MEAN: Parameter.NIBP_MEAN,
}

PARAMETER_PHYSIO: Final[dict[Parameter, int]] = {p: code for code, p in PHYSIO_PARAMETER.items()}

# The unit each parameter must arrive in; anything else is rejected rather than guessed at.
EXPECTED_UNIT: Final[dict[Parameter, int]] = {
    Parameter.HR: NOM_DIM_BEAT_PER_MIN,
    Parameter.PR: NOM_DIM_BEAT_PER_MIN,
    Parameter.SPO2: NOM_DIM_PERCENT,
    Parameter.NIBP_SYS: NOM_DIM_MMHG,
    Parameter.NIBP_DIA: NOM_DIM_MMHG,
    Parameter.NIBP_MEAN: NOM_DIM_MMHG,
}
