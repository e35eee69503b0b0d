"""Child process of the suspend test: this process's clocks behave as Linux's do across a system suspend.

Before anything of the monitor is imported, ``time.time``, ``time.monotonic`` and ``time.clock_gettime`` are
replaced by the real clocks plus the time the computer "slept": the wall clock and CLOCK_BOOTTIME count it,
CLOCK_MONOTONIC (``time.monotonic``) does not (clock_gettime(2)). Prints one JSON line.
"""

from __future__ import annotations

import json
import time

SLEPT_S = 1200.0
_slept = [0.0]
_real_time, _real_gettime = time.time, time.clock_gettime


def _time() -> float:
    return _real_time() + _slept[0]


def _gettime(clock: int) -> float:
    if clock in (time.CLOCK_BOOTTIME, time.CLOCK_REALTIME):
        return _real_gettime(clock) + _slept[0]
    return _real_gettime(clock)


time.time = _time
time.clock_gettime = _gettime


def main() -> None:
    from drivers.core.clock import process_clock
    from drivers.core.readings import Parameter, Reading
    from monitor.session import Session

    clock = process_clock()
    session = Session("s", clock.now())
    measured = clock.now()
    for parameter, value in ((Parameter.NIBP_SYS, 128.0), (Parameter.NIBP_DIA, 82.0), (Parameter.NIBP_MEAN, 97.0)):
        session.observe(Reading(measured, parameter, value, "test"))
    _slept[0] = SLEPT_S  # the lid is closed for 20 minutes, then opened
    now = clock.now()
    print(json.dumps({"behind_wall_s": time.time() - now, "nibp_age_s": session.nibp_age(now),
                      "step_s": clock.take_step()}))


if __name__ == "__main__":
    main()
