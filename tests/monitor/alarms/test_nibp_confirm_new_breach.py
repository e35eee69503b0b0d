"""A new, worse blood-pressure alarm from a later cuff asks for its own confirming cuff.

CLINICAL.md: NIBP is a spot value; a breach should prompt a confirming measurement. README: the alarm says
"confirming NIBP started", then "confirmed by a repeat NIBP". A low "20 % above baseline" alarm (common under
ketamine) confirmed at 150/97 kept the whole rest of the infusion one breach: a later scheduled cuff of 192/100
raised "*** NIBP sys 192 > 180 mmHg: confirmed by a repeat NIBP" - no repeat cuff had measured anything near 192 -
and no confirming cuff was started for it.
"""

from __future__ import annotations

from tests.monitor.alarms.conftest import Bed


def _cuff(bed: Bed, sys: float, dia: float) -> None:
    bed.reading("nibp_sys", sys)
    bed.reading("nibp_dia", dia)


def _confirmed_low_alarm() -> Bed:
    bed = Bed()
    bed.take_baseline(sys=120, dia=80)
    _cuff(bed, 150, 97)  # 25 % above baseline: low
    bed.wait(31)
    assert bed.engine.nibp_confirm_due(bed.now)
    bed.report("nibp_confirm_started")
    bed.wait(35)
    _cuff(bed, 150, 97)  # the confirming cuff agrees
    return bed


def test_a_crisis_on_a_later_cuff_is_not_shown_as_confirmed() -> None:
    bed = _confirmed_low_alarm()
    bed.wait(300)
    _cuff(bed, 192, 100)  # the next scheduled cuff: a hypertensive crisis
    crisis = bed.shown("nibp_sys_crisis")
    assert crisis is not None
    assert "confirmed by a repeat NIBP" not in crisis.display, crisis.display


def test_a_crisis_on_a_later_cuff_starts_a_confirming_cuff() -> None:
    bed = _confirmed_low_alarm()
    bed.wait(300)
    _cuff(bed, 192, 100)
    bed.wait(31)
    assert bed.engine.nibp_confirm_due(bed.now), "no confirming cuff is asked for the crisis"


def test_the_confirming_cuff_reaching_another_rung_asks_no_second_cuff() -> None:
    bed = Bed()
    bed.take_baseline(sys=120, dia=80)
    _cuff(bed, 150, 97)
    bed.wait(31)
    bed.report("nibp_confirm_started")
    bed.wait(35)
    _cuff(bed, 170, 97)  # the confirming cuff itself is higher: still the same breach, confirmed
    bed.wait(31)
    assert not bed.engine.nibp_confirm_due(bed.now)
    assert "confirmed by a repeat NIBP" in bed.shown("nibp_sys_raised").display
