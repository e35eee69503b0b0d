"""The cuff cycle given on the command line obeys the same bounds as the session, the protocol and Settings.

CLINICAL.md: NIBP every 5 min during the infusion (10 min allowed); README: the cycle is set in Settings
(1-30 min, the session's rule) or by the protocol file (1-30 min). `record --nibp-infusion 60` was accepted:
a 40-minute infusion ran without a single cuff and without the "NIBP overdue" alarm (due only after 90 min).
"""

from __future__ import annotations

import pytest

from monitor.cli import build_parser
from monitor.constants import NIBP_INTERVAL_RANGE_MIN


@pytest.mark.parametrize("option", ["--nibp-infusion", "--nibp-recovery"])
@pytest.mark.parametrize("minutes", ["31", "60", "120"])
def test_a_cuff_cycle_beyond_the_sessions_range_is_refused(option: str, minutes: str) -> None:
    assert float(minutes) > NIBP_INTERVAL_RANGE_MIN[1]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["record", option, minutes])
