"""IntelliVue: the last NBP is not stored again when only its measurement-state word changes.

Public MeasurementState bits (Philips Data Export guide as public hosts list them, e.g. mdpnp/OpenICE,
VSCaptureMP's siblings): 0x0020 MSMT_ONGOING, 0x0040 EARLY_INDICATION, 0x0002 MSMT_STATE_IN_ALARM,
0x0001 MSMT_STATE_AL_INHIBITED. A poll reply repeats the last NBP every poll; when the monitor raises
or silences the NBP alarm, or starts a new cuff cycle, only the state word changes, not the measurement.
"""

from __future__ import annotations

import pytest

from drivers.core.readings import Parameter
from drivers.intellivue import messages as msg
from drivers.intellivue.decoder import IntelliVueDecoder
from drivers.intellivue.framing import encode_frame
from drivers.intellivue.values import (
    NOM_DIM_MMHG,
    NOM_PRESS_BLD_NONINV_DIA,
    NOM_PRESS_BLD_NONINV_MEAN,
    NOM_PRESS_BLD_NONINV_SYS,
    encode_float,
)
from tests.drivers.intellivue.test_intellivue import T0, associate


def nbp_reply(state: int, rel: int | None, poll_rel: int) -> bytes:
    values = (
        msg.NumericValue(NOM_PRESS_BLD_NONINV_SYS, state, NOM_DIM_MMHG, encode_float(182)),
        msg.NumericValue(NOM_PRESS_BLD_NONINV_DIA, state, NOM_DIM_MMHG, encode_float(111)),
        msg.NumericValue(NOM_PRESS_BLD_NONINV_MEAN, state, NOM_DIM_MMHG, encode_float(135)),
    )
    obs = msg.Observation(7, values, compound=True, rel_time=rel)
    return encode_frame(msg.poll_reply(1, 1, poll_rel, [obs]))


@pytest.mark.parametrize("state", [0x0002, 0x0001, 0x0020, 0x0040])
@pytest.mark.parametrize("stamped", [False, True])
def test_same_nbp_measurement_with_a_new_state_word_is_not_a_new_cuff(state: int, stamped: bool) -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    rel = 8_000 * 5 if stamped else None  # measured at relative time 5 s
    first = decoder.feed(nbp_reply(0x0000, rel, 8_000 * 10), T0 + 10)
    assert sorted(r.value for r in first if r.parameter is Parameter.NIBP_SYS) == [182]
    # Ten polls later the same measurement (same values, same stamp) with the alarm bit / ongoing bit set:
    later = decoder.feed(nbp_reply(state, rel, 8_000 * 20), T0 + 20)
    again = [r for r in later if r.parameter is Parameter.NIBP_SYS]
    # Before: the old cuff comes out again as a new reading (without stamps: stamped NOW, a fresh cuff).
    assert again == [], f"state 0x{state:04x} re-emitted the old NBP as {[(r.t - T0, r.value) for r in again]}"
