"""A pressure exactly 40 % above baseline is not "more than 40 % above baseline".

CLINICAL.md: SBP or DBP more than 40 % above baseline is medium; more than 20 % is low. The relative limit was
computed as baseline x 1.4 in floating point, which for baselines such as 45, 85, 90 or 165 mmHg lies just under
the exact value: diastolic 63 on a baseline of 45 (exactly +40 %) raised the medium alarm.
"""

from __future__ import annotations

import pytest

from tests.monitor.alarms.conftest import Bed


@pytest.mark.parametrize(("baseline_dia", "exactly_40_percent_above"), [(45, 63), (85, 119), (90, 126)])
def test_exactly_40_percent_above_baseline_is_not_beyond_the_limit(
    baseline_dia: float, exactly_40_percent_above: float
) -> None:
    bed = Bed()
    bed.take_baseline(sys=120, dia=baseline_dia)
    bed.reading("nibp_sys", 120)
    bed.reading("nibp_dia", exactly_40_percent_above)
    assert bed.shown("bp_above_baseline_severe") is None
