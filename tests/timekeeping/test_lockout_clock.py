"""A sign-in lock-out while the computer's clock is set back (by hand, or by NTP correcting a clock that ran fast)."""

from __future__ import annotations

import pytest

from monitor import accounts as accounts_module
from monitor.accounts import Accounts, LockedOut
from monitor.store import Store
from tests.conftest import NURSE_SECRET, locked_out

T = 1_800_000_000.0
STEP_BACK_S = 3600.0


def test_a_30_s_lock_out_does_not_last_an_hour_when_the_clock_is_set_back(store: Store) -> None:
    accounts = Accounts(store)
    accounts.add("RN", "admin", NURSE_SECRET, by=None)
    assert locked_out(accounts, "RN", T).retry_after_s == accounts_module.FIRST_LOCK_S
    # 5 s later the clock is set back an hour; the nurse waits out the 30 s (and then some) and signs in.
    later = T + 5 - STEP_BACK_S
    with pytest.raises(LockedOut):
        accounts.authenticate("RN", NURSE_SECRET, now=later)
    waited = later + accounts_module.FIRST_LOCK_S + 1
    assert accounts.authenticate("RN", NURSE_SECRET, now=waited).name == "RN"
