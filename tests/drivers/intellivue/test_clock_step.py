"""IntelliVue: the monitor's clock is set while it holds a cuff result (a time sync from the central station, or
a nurse correcting it).

Its relative time (0x0991, TIME_REL: 1/8 ms ticks since it was switched on) runs on; its clock (TIME_ABS, and the
absolute stamps 0x0990 in BCD) jumps. Every poll reply carries both, read together, so the host sees the jump.
The held cuff must not come out a second time, whether the monitor re-stamps it in its new clock or keeps the old
stamp, and later cuffs stamped only with absolute time must keep their true time.
"""

from __future__ import annotations

import time

import pytest

from drivers.base import OpenOptions
from drivers.core.readings import Parameter, Reading
from drivers.emulation.registry import make_device
from drivers.intellivue import messages as msg
from drivers.intellivue.decoder import IntelliVueDecoder
from drivers.intellivue.driver import IntelliVueDriver, IntelliVueSource
from drivers.intellivue.emulator import IntelliVueDevice
from drivers.intellivue.framing import encode_frame
from drivers.intellivue.values import (
    NOM_DIM_MMHG,
    NOM_PRESS_BLD_NONINV,
    NOM_PRESS_BLD_NONINV_DIA,
    NOM_PRESS_BLD_NONINV_MEAN,
    NOM_PRESS_BLD_NONINV_SYS,
    encode_abs_time,
    encode_float,
)
from monitor.plan import SessionPlan
from monitor.recorder import Recorder, wall_deadline
from monitor.store import Store
from tests.drivers.exchange import expected_protocol
from tests.drivers.intellivue.test_intellivue import START, T0, accept_and_report, associated_pair, converse, vec
from tests.drivers.ptys import NullModem
from tests.drivers.test_bp_end_to_end import RunningEmulator, assert_session_cuffs, exported_nibp

LOCAL = 3600.0  # the monitor's clock runs on local time, UTC+1
REL0 = 0x000ABD00  # its relative time when the MDS report is sent
POLL_TICKS = 30 * msg.TICKS_PER_SECOND  # the poll period the host asks for


def mds_clock(at: float) -> tuple[bytes, ...]:
    """TIME_ABS and TIME_REL of the MDS Create Event Report sent at ``at``."""
    return (
        msg.attribute(msg.NOM_ATTR_TIME_ABS, encode_abs_time(at + LOCAL)),
        msg.attribute(msg.NOM_ATTR_TIME_REL, msg.u32(REL0)),
    )


def ticks(at: float) -> int:
    """The monitor's relative time at ``at``."""
    return REL0 + round((at - T0) * msg.TICKS_PER_SECOND)


def nbp_reply(poll: int, at: float, clock: float, cuff: tuple[int, int, int], stamp: float | None,
              rel: int | None, poll_rel: int | None = None) -> bytes:
    """A poll reply sent at ``at`` by a monitor whose clock reads ``at + clock``: one NBP, stamped as given.

    ``poll_rel``: the reply's relative time when it is not the monitor's true one.
    """
    values = tuple(
        msg.NumericValue(code, 0, NOM_DIM_MMHG, encode_float(value))
        for code, value in zip((NOM_PRESS_BLD_NONINV_SYS, NOM_PRESS_BLD_NONINV_DIA, NOM_PRESS_BLD_NONINV_MEAN), cuff,
                               strict=True)
    )
    obs = msg.Observation(0x0104, values, compound=True, rel_time=rel, type_code=NOM_PRESS_BLD_NONINV,
                          abs_time=None if stamp is None else encode_abs_time(stamp))
    rel_now = ticks(at) if poll_rel is None else poll_rel
    return encode_frame(msg.poll_reply(poll, poll, rel_now, [obs], abs_time=encode_abs_time(at + clock)))


def poll(n: int) -> bytes:
    """The host's n-th Extended Poll for numerics."""
    return encode_frame(msg.extended_poll_request(n, n, period_ticks=POLL_TICKS))


def nbp(readings: list[Reading]) -> list[tuple[float, float | None]]:
    """(time, systolic) of each NBP in ``readings``."""
    return [(round(r.t - T0, 2), r.value) for r in readings if r.parameter is Parameter.NIBP_SYS]


FIRST = (118, 76, 92)
SECOND = (131, 84, 101)


@pytest.mark.parametrize("step", [-90.0, -3600.0, 3600.0])
@pytest.mark.parametrize("restamped", [True, False], ids=["held-cuff-restamped", "held-cuff-keeps-its-stamp"])
@pytest.mark.parametrize("stamps", ["abs", "both"])
def test_a_clock_step_neither_repeats_the_held_cuff_nor_moves_later_ones(
    step: float, restamped: bool, stamps: str
) -> None:
    """Cuff measured at T0-4, clock set ``step`` s at T0+1.5, next cuff measured at T0+2.5 on the new clock."""
    decoder = IntelliVueDecoder()
    new = LOCAL + step
    first_at, second_at = T0 - 4.0, T0 + 2.5
    held_stamp = first_at + (new if restamped else LOCAL)

    def rel(at: float) -> int | None:
        return ticks(at) if stamps == "both" else None

    pairs = [
        (T0, START, accept_and_report(REL0, mds_clock(T0))),
        (T0 + 1, vec("mds_create_event_result_frame_2") + poll(1),
         nbp_reply(1, T0 + 1, LOCAL, FIRST, first_at + LOCAL, rel(first_at))),
        # The clock was set: the poll's own clock and, re-stamped or not, the held cuff.
        (T0 + 2, poll(2), nbp_reply(2, T0 + 2, new, FIRST, held_stamp, rel(first_at))),
        (T0 + 3, poll(3), nbp_reply(3, T0 + 3, new, SECOND, second_at + new, rel(second_at))),
        (T0 + 4, poll(4), nbp_reply(4, T0 + 4, new, SECOND, second_at + new, rel(second_at))),
    ]
    with expected_protocol(decoder, pairs) as talk:
        readings = [nbp(talk.step()) for _ in pairs]
    assert readings == [[], [(-4.0, 118)], [], [(2.5, 131)], []]
    assert decoder.clock_steps == 1
    assert decoder.counters.frames_rejected == 0


@pytest.mark.parametrize(("late", "lag"), [(5.0, 0.0), (0.0, 4.0)], ids=["read-5-s-late", "running-time-lags-4-s"])
def test_a_late_read_or_a_sloppy_reply_is_no_clock_step(late: float, lag: float) -> None:
    """A reply read 5 s late (its clock agrees with its relative time), or one whose relative time lags its clock
    by 4 s (the receive time agrees with the clock): in neither was the clock set."""
    decoder = IntelliVueDecoder()
    pairs = [
        (T0, START, accept_and_report(REL0, mds_clock(T0))),
        (T0 + 1, vec("mds_create_event_result_frame_2") + poll(1),
         nbp_reply(1, T0 + 1, LOCAL, FIRST, T0 - 4.0 + LOCAL, None)),
    ]
    with expected_protocol(decoder, pairs) as talk:
        readings = [nbp(talk.step()) for _ in pairs]
    assert decoder.outgoing(T0 + 2) == poll(2)
    reply = nbp_reply(2, T0 + 2, LOCAL, SECOND, T0 + 1.5 + LOCAL, None, poll_rel=ticks(T0 + 2 - lag))
    readings.append(nbp(decoder.feed(reply, T0 + 2 + late)))
    assert readings == [[], [(-4.0, 118)], [(1.5, 131)]]
    assert decoder.clock_steps == 0


# -- the emulated monitor, its clock set while it runs ---------------------------------------------------------


@pytest.mark.parametrize("step", [-3600.0, -90.0, 90.0, 3600.0])
@pytest.mark.parametrize("stamps", ["abs", "both"])
def test_emulated_monitor_clock_set_mid_session_gives_each_cuff_once_at_its_time(step: float, stamps: str) -> None:
    decoder, monitor, feed = associated_pair(nbp_stamps=stamps, clock_offset_s=LOCAL)
    readings: list[Reading] = []
    for second in range(200):
        if second == 90:
            monitor.step_clock(step)  # while the cuff of T0+60 is held
        readings += converse(decoder, monitor, T0 + second + 0.5)
    got = [(r.t, r.value) for r in readings if r.parameter is Parameter.NIBP_SYS]
    measured = [(c.t, c.sys) for c in feed.cuffs if c.t <= T0 + 199.5]
    assert len(measured) == 4
    assert [v for _, v in got] == [v for _, v in measured]
    assert [t for t, _ in got] == pytest.approx([t for t, _ in measured], abs=0.011)
    assert decoder.clock_steps == monitor.counters.clock_steps == 1


def test_emulator_sets_its_clock_when_told_to() -> None:
    device = make_device("philips-intellivue", seed=2, start=T0,
                         settings={"time_stamps": "abs", "clock_step": "-90", "clock_step_at": "70"})
    assert isinstance(device, IntelliVueDevice)
    monitor = device.monitor
    assert (monitor.clock_step_s, monitor.clock_step_at) == (-90.0, T0 + 70)
    assert monitor.clock(T0 + 69) == encode_abs_time(T0 + 69 + LOCAL)
    monitor.receive(b"", T0 + 70)
    assert monitor.clock(T0 + 71) == encode_abs_time(T0 + 71 + LOCAL - 90)
    assert monitor.counters.clock_steps == 1


# -- end to end: emulator on a pty pair, the real driver, the recorder, the export ---------------------------


def test_clock_set_mid_session_end_to_end_stores_each_cuff_once_at_its_time(
    store: Store, null_modem: NullModem
) -> None:
    device = make_device("philips-intellivue", seed=7, settings={
        "nbp_every": "2", "cuff_s": "0.5", "time_stamps": "abs", "clock_step": "-90", "clock_step_at": "4.2"})
    assert isinstance(device, IntelliVueDevice)
    with RunningEmulator(device, null_modem):
        source = IntelliVueDriver().open(OpenOptions(port=str(null_modem.host_link)))
        assert isinstance(source, IntelliVueSource)
        recorder = Recorder.new_session(
            store, source, driver="philips-intellivue", port=str(null_modem.host_link), plan=SessionPlan()
        )
        recorder.run(until=wall_deadline(9.0))
        ended = time.time()
    assert device.monitor.counters.clock_steps == 1
    assert source.decoder.clock_steps == 1
    got = exported_nibp(store, recorder.session.id)
    inside = assert_session_cuffs(got, device.feed.cuffs, recorder.session.started_at, ended - 1.5)
    assert len(inside) >= 3
    stored = [r.t for r in store.readings(recorder.session.id) if r.parameter is Parameter.NIBP_SYS]
    measured = [c.t for c in device.feed.cuffs if not c.failed]
    # Each stored cuff carries the time the monitor measured it, before and after the step.
    assert all(min(abs(t - m) for m in measured) < 0.1 for t in stored), (stored, measured)
