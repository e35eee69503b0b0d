"""A gateway that repeats its last cuff in every periodic message with a time the listener does not trust
(its clock is off by more than the 10 minutes allowed): the cuff is still stored once and its age grows."""

from __future__ import annotations

from tests.timekeeping.test_hl7_fall_back import _cuffs_and_age, utc_stamp


def test_a_repeated_cuff_from_a_gateway_whose_clock_is_20_minutes_behind_is_stored_once_and_ages() -> None:
    systolics, age = _cuffs_and_age(1_765_000_000.0, utc_stamp, clock_error_s=-1200.0)
    assert len(systolics) == 1, systolics
    assert age is not None and age >= 300, age
