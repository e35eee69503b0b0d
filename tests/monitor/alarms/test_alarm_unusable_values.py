"""Unusable values are no data, and a high alarm latches until acknowledged: CLINICAL.md at the engine.

An ECG number flagged invalid is no heart rate (the oximeter's pulse stands in and is judged), an invalid
value is a technical alarm that stays while the values are invalid, a cuff flagged invalid or artifact is no
blood pressure for "NIBP overdue", recovery's longer cycle does not end an overdue cuff, and an acknowledged
high alarm that sounded again latches until it is acknowledged again. Respiration (RR or EtCO2) that stops giving
a value is "no data" as SpO2 and heart rate are.
"""

from __future__ import annotations

import pytest

from drivers.core.readings import Flag
from tests.monitor.alarms.conftest import Bed


# --- ECG value flagged unusable while the oximeter's pulse rate is valid ---------------------------
@pytest.mark.parametrize("flag", [Flag.INVALID, Flag.ARTIFACT, Flag.CALIBRATING])
def test_bradycardia_on_pr_alarms_while_ecg_hr_is_unusable(bed: Bed, flag: Flag) -> None:
    """CLINICAL: a reading without a usable value is no data; displayed HR is hr where an ECG supplies it, else pr.
    The ECG sends a number flagged unusable every second; the oximeter's PR is a valid 40/min for 60 s."""
    bed.take_baseline()
    start = bed.now
    for i in range(61):
        bed.reading("hr", 75, start + i, flags=[flag])
        bed.reading("pr", 40, start + i)
        bed.reading("spo2", 97, start + i)
    active = [(a.condition, a.priority.name) for a in bed.snapshot().active]
    assert ("hr_low", "HIGH") in active, f"PR 40/min for 60 s, nothing on screen but {active}"


def test_value_flagged_invalid_shows_a_technical_alarm(bed: Bed) -> None:
    """CLINICAL: technical alarms include invalid values. IntelliVue sends a number with MeasurementState 0x8000."""
    bed.take_baseline()
    start = bed.now
    for i in range(20):
        bed.reading("hr", 75, start + i, flags=[Flag.INVALID])
        bed.reading("pr", 72, start + i)
        bed.reading("spo2", 97, start + i)
    assert bed.shown("invalid_value") is not None
    assert len(bed.logged("invalid_value")) == 1, "one alarm, not one zero-length alarm per reading"


# --- latching: an acknowledged high alarm that sounded again because it worsened -----------------------
def test_resounded_high_alarm_latches_until_acknowledged_again(bed: Bed) -> None:
    bed.take_baseline()
    bed.hold("spo2", 88, 16)
    assert bed.shown("spo2_low_severe") is not None
    bed.command("acknowledge")
    bed.hold("spo2", 80, 3)  # worse by >= 3 %: sounds again, unacknowledged
    alarm = bed.shown("spo2_low_severe")
    assert alarm is not None and not alarm.silenced
    bed.recover("spo2", 97)
    bed.hold("spo2", 97, 3)
    alarm = bed.shown("spo2_low_severe")
    # IEC 60601-1-8 / CLINICAL: high-priority physiological alarms latch until a nurse acknowledges them.
    assert alarm is not None, "a re-sounded high alarm vanished without being acknowledged"


# --- a cuff the device marks invalid every cycle: no valid BP for 30 min --------------------------------
@pytest.mark.parametrize("flag", [Flag.INVALID, Flag.ARTIFACT])
def test_cuffs_flagged_unusable_do_not_reset_nibp_overdue(bed: Bed, flag: Flag) -> None:
    """CLINICAL: invalid/artifact is no data; NIBP overdue = more than 1.5 cycles since the last reading
    (an IntelliVue keeps a plausible number that its MeasurementState 0x8000 marks invalid)."""
    bed.take_baseline()
    start = bed.now
    for i in range(1, 1801):
        t = start + i
        bed.reading("hr", 72, t)
        bed.reading("spo2", 97, t)
        if i % 300 == 0:
            for p, v in (("nibp_sys", 118), ("nibp_dia", 76)):
                bed.reading(p, v, t, flags=[flag])
    active = [(a.condition, a.priority.name) for a in bed.snapshot().active]
    assert any(c == "nibp_overdue" for c, _ in active), f"30 min without a valid cuff: {active}"


def test_nibp_overdue_does_not_end_at_recovery_start_without_a_cuff(bed: Bed) -> None:
    """CLINICAL: NIBP overdue = more than 1.5 cycles since the last reading. Last cuff at the infusion start; 40 min
    later recovery starts (cycle 15 min: 22.5 min). 40 min without a cuff is overdue in recovery too."""
    bed.take_baseline()
    start = bed.now
    for i in range(1, 2401):
        bed.reading("hr", 72, start + i)
        bed.reading("spo2", 97, start + i)
    assert bed.shown("nibp_overdue") is not None
    bed.session.start_recovery(bed.now, "RN")
    bed.events()
    for i in range(2401, 2410):
        bed.reading("hr", 72, start + i)
        bed.reading("spo2", 97, start + i)
    assert bed.shown("nibp_overdue") is not None, "40 min without a cuff, the overdue alarm ended at recovery start"


def test_respiratory_rate_lost_during_infusion_is_a_technical_alarm(bed: Bed) -> None:
    """CLINICAL: technical alarms include 'no data from a parameter'; RR < 8 high, no breath for 20 s high.
    A capnography session whose RR and EtCO2 arrive without a value for 60 s during the infusion."""
    bed.take_baseline()
    start = bed.now
    for i in range(90):
        t = start + i
        bed.reading("hr", 72, t)
        bed.reading("spo2", 97, t)
        bed.reading("rr", 14 if i < 30 else None, t)
        bed.reading("etco2", 38 if i < 30 else None, t)
    active = [(a.condition, a.parameter, a.priority.name) for a in bed.snapshot().active]
    # Lost data in the infusion: medium at once (high 60 s later), after the 20 s "no breath" delay.
    assert ("no_data", "respiration", "MEDIUM") in active, f"60 s without RR/EtCO2 in the infusion: {active}"
