"""A device whose clock runs fast must not carry the session's clock ahead of the values' arrival.

An HL7 sender stamps each value with OBX-14. Before, a stamp up to 60 s ahead was kept, the session's
clock followed it, and when the sender fell silent its last values looked current, and the "no data"
alarm waited, for as long as the clock was fast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.base import Source
from drivers.core.clock import AnchoredClock, SendClockWatch
from drivers.core.readings import Parameter, Reading
from drivers.hl7.listener import Hl7Decoder
from drivers.transport.mllp import frame
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import EventKind
from monitor.store import Store

T0 = 1_790_000_000.0


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y%m%d%H%M%S") + "+0000"


class _FastClockSender(Source):
    """One ORU^R01 a second (SpO2 and HR), stamped ``ahead_s`` after it arrives; each read is one second."""

    def __init__(self, ahead_s: float) -> None:
        super().__init__("hl7", "an HL7 gateway")
        self.monotonic = 0.0
        self.clock = AnchoredClock(lambda: T0 + self.monotonic, lambda: self.monotonic)
        self.ahead_s = ahead_s
        self.decoder = Hl7Decoder()
        self.sending = True
        self.sent = 0

    def read(self, timeout: float) -> list[Reading]:
        self.monotonic += 1.0
        if not self.sending:
            return []
        self.sent += 1
        at = self.clock.now()
        stamp = _stamp(at + self.ahead_s)
        text = "\r".join((
            f"MSH|^~\\&|GW|WARD|IM|CLINIC|{stamp}||ORU^R01^ORU_R01|C{self.sent}|P|2.6",
            "PID|||4711^^^H^MR", f"OBR|1|||VITALS|||{stamp}",
            f"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97|%|||||R|||{stamp}",
            f"OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC||72|/min|||||R|||{stamp}",
        )) + "\r"
        return self.decoder.feed(frame(text), at)

    def now(self) -> float:
        return self.clock.now()

    def take_clock_offsets(self) -> list[tuple[float, float]]:
        offsets, self.decoder.clock_offsets[:] = list(self.decoder.clock_offsets), []
        return offsets


@pytest.mark.parametrize("ahead_s", [0.0, 1.5, 59.0])
def test_a_fast_device_clock_delays_neither_no_data_nor_the_age_of_values(tmp_path: Path, ahead_s: float) -> None:
    sender = _FastClockSender(ahead_s)
    with Store(tmp_path / "m.db") as store:
        recorder = Recorder.new_session(store, sender, driver="hl7", port=None, plan=SessionPlan(1, 40, 30),
                                        alarms=AlarmEngine(), clock=sender.clock)
        for _ in range(20):
            recorder.step()
        sender.sending = False
        silent_from = sender.monotonic
        raised_after = None
        while raised_after is None and sender.monotonic - silent_from < 90:
            update = recorder.step()
            if any(a.condition == "no_data" for a in update.alarms.active):
                raised_after = sender.monotonic - silent_from
                spo2 = next(r for r in update.status.latest if r.parameter is Parameter.SPO2)
                assert update.status.now - spo2.t >= raised_after - 1.0, "the last value's age is its real age"
        recorder.close()
        offsets = [e for e in store.events(recorder.session.id) if e.kind is EventKind.DEVICE_CLOCK_OFFSET]
    assert raised_after is not None and raised_after <= 12.0, f"no data raised {raised_after} s after the silence"
    # Clock noise (1.5 s) is no news; a clock a minute fast is named on the timeline, once.
    assert [round(e.detail["offset_s"]) for e in offsets] == ([59] if ahead_s > 2 else [])


def test_a_device_clock_behind_is_named_on_the_timeline_and_its_values_look_old(tmp_path: Path) -> None:
    """Its values are not moved forward (a backlog sent at the live rate would look the same): they look as old
    as its clock makes them, the safe side, and the timeline says why, once."""
    sender = _FastClockSender(-59.0)
    with Store(tmp_path / "m.db") as store:
        recorder = Recorder.new_session(store, sender, driver="hl7", port=None, plan=SessionPlan(1, 40, 30),
                                        alarms=AlarmEngine(), clock=sender.clock)
        for _ in range(90):
            update = recorder.step()
        spo2 = next(r for r in update.status.latest if r.parameter is Parameter.SPO2)
        assert update.status.now - spo2.t >= 58.0
        recorder.close()
        offsets = [e for e in store.events(recorder.session.id) if e.kind is EventKind.DEVICE_CLOCK_OFFSET]
    assert [round(e.detail["offset_s"]) for e in offsets] == [-59]


def test_a_backlog_sent_in_a_burst_is_no_clock_error() -> None:
    """Ten minutes of messages made a second apart and sent within a second on reconnecting."""
    decoder = Hl7Decoder()
    for n in range(600):
        made = _stamp(T0 - 600 + n)
        text = "\r".join((
            f"MSH|^~\\&|GW|WARD|IM|CLINIC|{made}||ORU^R01^ORU_R01|B{n}|P|2.6", "PID|||4711^^^H^MR",
            "OBR|1|||VITALS", f"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97|%|||||R|||{made}",
        )) + "\r"
        assert decoder.feed(frame(text), T0 + n / 1000)
    assert decoder.clock_offsets == []


@pytest.mark.parametrize(("errors", "named"), [
    ([0.2, 0.1, 0.3, 0.2, 0.1], None),  # a clock that agrees
    ([-59.2, -59.0, -59.4, -59.1, -59.3], -59.0),  # behind, steadily
    ([-600.0, -599.0, -598.0, -597.0, -596.0], None),  # spread: not one steady error
])
def test_a_steady_send_clock_error_is_named_once(errors: list[float], named: float | None) -> None:
    watch = SendClockWatch()
    seen = [watch.observe(T0 + i + error, T0 + i) for i, error in enumerate(errors)]
    assert [x for x in seen if x is not None] == ([] if named is None else [pytest.approx(named)])
    if named is not None:
        again = [watch.observe(T0 + 10 + i + named, T0 + 10 + i) for i in range(5)]
        assert again == [None] * 5, "named once"
