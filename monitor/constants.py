"""Clinic defaults with their units, in one place (CLINICAL.md is the source of each)."""

from __future__ import annotations

from typing import Final

# Session plan
BASELINE_MINUTES_DEFAULT: Final = 5.0
INFUSION_MINUTES_DEFAULT: Final = 40.0
RECOVERY_MINUTES_DEFAULT: Final = 30.0

# NIBP cycle by phase, seconds (None: the session does not start the cuff in that phase)
NIBP_INTERVAL_BASELINE_S: Final = 5 * 60.0
NIBP_INTERVAL_INFUSION_S: Final = 5 * 60.0
NIBP_INTERVAL_RECOVERY_S: Final = 15 * 60.0
# Cuff cycles a nurse may choose, minutes (CLINICAL.md: 5 by default, 10 allowed during infusion).
NIBP_INTERVAL_RANGE_MIN: Final = (1.0, 30.0)
# A started cuff measurement that has not produced a value after this long may be requested again.
NIBP_REQUEST_TIMEOUT_S: Final = 150.0
# A cuff value this old no longer counts as "the current" blood pressure for the baseline.
NIBP_OVERDUE_CYCLES: Final = 1.5

# A numeric value (HR, SpO2, RR, EtCO2) older than this is no longer shown as the current one.
VALUE_STALE_AFTER_S: Final = 10.0

# Storage
FLUSH_INTERVAL_S: Final = 0.02  # pending rows are committed at least this often while data flows
HEARTBEAT_INTERVAL_S: Final = 5.0
STALE_HEARTBEAT_S: Final = 30.0  # a "recording" session whose owner is silent this long is unfinished
