"""Time that cannot jump: session time follows a monotonic clock; wall-clock steps are recorded, not followed."""

from __future__ import annotations

import pytest

from drivers.base import Source
from drivers.core.clock import DEVICE_TIME_FUTURE_S, DEVICE_TIME_PAST_S, AnchoredClock, device_time
from drivers.core.readings import Parameter, Reading
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import EventKind
from monitor.store import Store

T0 = 1_790_000_000.0


class FakeTime:
    """A wall clock that can be set like the system clock, and a monotonic clock that cannot."""

    def __init__(self) -> None:
        self.wall_offset = 0.0
        self.mono = 1000.0

    def wall(self) -> float:
        return T0 + (self.mono - 1000.0) + self.wall_offset

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
def fake() -> FakeTime:
    """The test's settable wall clock and its monotonic clock."""
    return FakeTime()


@pytest.fixture
def clock(fake: FakeTime) -> AnchoredClock:
    """Session time anchored on the fake clocks."""
    return AnchoredClock(fake.wall, fake.monotonic)


class ClockedSource(Source):
    """One HR value per read, stamped with the anchored clock; each read is one second."""

    def __init__(self, clock: AnchoredClock, fake: FakeTime) -> None:
        super().__init__("clocked", "test monitor")
        self.clock = clock
        self.fake = fake

    def read(self, timeout: float) -> list[Reading]:
        self.fake.mono += 1.0
        t = self.clock.now()
        values = {Parameter.HR: 70.0, Parameter.SPO2: 98.0, Parameter.NIBP_SYS: 120.0, Parameter.NIBP_DIA: 80.0,
                  Parameter.NIBP_MEAN: 93.0}
        return [Reading(t, parameter, value, "test") for parameter, value in values.items()]

    def now(self) -> float:
        return self.clock.now()


def test_the_anchored_clock_follows_monotonic_time_and_reports_steps(fake: FakeTime, clock: AnchoredClock) -> None:
    assert clock.now() == T0
    fake.mono += 10
    fake.wall_offset = 0.5  # NTP slewing: not a step
    assert clock.now() == T0 + 10 and clock.take_step() is None
    fake.wall_offset = 3600.5
    assert clock.now() == T0 + 10
    assert clock.take_step() == 3600.5  # measured from the last reported offset (slew included)
    assert clock.take_step() is None  # reported once
    fake.wall_offset = -3599.5
    assert clock.take_step() == -7200.0


def test_device_time_stamps_are_trusted_only_near_the_receive_time() -> None:
    assert device_time(T0 - 30, T0) == (T0 - 30, None)
    assert device_time(T0 - DEVICE_TIME_PAST_S - 1, T0) == (T0, -DEVICE_TIME_PAST_S - 1)
    assert device_time(T0 + DEVICE_TIME_FUTURE_S + 1, T0) == (T0, DEVICE_TIME_FUTURE_S + 1)
    assert device_time(T0 + DEVICE_TIME_FUTURE_S, T0) == (T0, None)  # clock noise: at arrival, no report
    assert device_time(T0 - 10 * 365 * 86400, T0)[0] == T0


def test_wall_clock_steps_never_change_the_infusion_or_the_timeline_order(
    fake: FakeTime, clock: AnchoredClock, store: Store
) -> None:
    source = ClockedSource(clock, fake)
    recorder = Recorder.new_session(store, source, driver="test", port=None, plan=SessionPlan(0.1, 40, 30),
                                    nurse="RN", clock=clock)
    for _ in range(5):
        recorder.step()
    recorder.submit("start_baseline", "RN")
    for _ in range(200):  # past the baseline's minimum length
        recorder.step()
    infusion = recorder.submit("start_infusion", "RN", override_reason="pre-infusion checks done on paper")
    recorder.step()
    assert infusion.exception(timeout=0) is None
    for turn in range(120):
        if turn == 30:
            fake.wall_offset = 3600.0  # someone sets the clock an hour ahead
        if turn == 60:
            fake.wall_offset = -3600.0  # ... and then an hour behind
        recorder.step()
    assert abs(recorder.status().infusion_elapsed_s - 120) <= 1.0
    assert recorder.status().phase.value == "infusion"
    recorder.run(until=lambda r: True)
    session_id = recorder.session.id
    events = store.events(session_id)
    steps = [e.detail["step_s"] for e in events if e.kind is EventKind.CLOCK_CHANGED]
    assert steps == [3600.0, -7200.0]
    times = [r.t for r in store.readings(session_id)]
    assert times == sorted(times) and times[0] >= T0 and times[-1] <= T0 + 400  # not an hour more
    assert not [e for e in events if e.kind is EventKind.INFUSION_STOPPED]


class OffsetSource(ClockedSource):
    """Reports refused device stamps as the HL7 listener does."""

    def __init__(self, clock: AnchoredClock, fake: FakeTime) -> None:
        super().__init__(clock, fake)
        self.offsets: list[tuple[float, float]] = []

    def take_clock_offsets(self) -> list[tuple[float, float]]:
        offsets, self.offsets = self.offsets, []
        return offsets


def test_refused_device_stamps_are_named_once(fake: FakeTime, clock: AnchoredClock, store: Store) -> None:
    source = OffsetSource(clock, fake)
    recorder = Recorder.new_session(store, source, driver="test", port=None, plan=SessionPlan(1, 40, 30),
                                    clock=clock)
    for turn in range(10):
        if turn in (2, 3, 4):
            source.offsets.append((clock.now(), -3 * 86400.0))  # three days old, three messages
        if turn == 6:
            source.offsets.append((clock.now(), 10 * 365 * 86400.0))  # ten years ahead
        recorder.step()
    recorder.run(until=lambda r: True)
    events = store.events(recorder.session.id)
    offsets = [e.detail["offset_s"] for e in events if e.kind is EventKind.DEVICE_CLOCK_OFFSET]
    assert offsets == [-3 * 86400.0, 10 * 365 * 86400.0]


class BacklogSource(ClockedSource):
    """On connecting, sends what the monitor remembers from before the session began (as HL7 gateways do)."""

    def __init__(self, clock: AnchoredClock, fake: FakeTime) -> None:
        super().__init__(clock, fake)
        self.backlog: list[Reading] = []

    def read(self, timeout: float) -> list[Reading]:
        current = super().read(timeout)
        backlog, self.backlog = self.backlog, []
        return backlog + current


def test_readings_stamped_before_the_start_are_skipped_counted_and_never_exported(
    fake: FakeTime, clock: AnchoredClock, store: Store
) -> None:
    import io
    import json

    from monitor.exports import writer
    from monitor.exports.data import ExportOptions, load

    source = BacklogSource(clock, fake)
    recorder = Recorder.new_session(store, source, driver="test", port=None, plan=SessionPlan(1, 40, 30),
                                    clock=clock)
    started = recorder.session.started_at
    # 40 s of heart rate and a pleth block from before the start (an SpO2 of 80 % among them).
    source.backlog = [Reading(started - 40 + i, Parameter.HR, 120.0, "test") for i in range(40)]
    source.backlog.append(Reading(started - 41, Parameter.SPO2, 80.0, "test"))
    source.backlog.append(Reading(started - 0.5, Parameter.PLETH, 0.5, "test"))
    for _ in range(10):
        recorder.step()
    recorder.run(until=lambda r: True)
    session_id = recorder.session.id
    stored = store.readings(session_id)
    assert stored and min(r.t for r in stored) >= started
    assert not [r for r in stored if r.parameter is Parameter.HR and r.value == 120.0]
    said = [e for e in store.events(session_id) if e.kind is EventKind.READINGS_BEFORE_START]
    assert len(said) == 1
    assert said[0].detail["count"] == 41 and said[0].detail["earliest_before_start_s"] == 41.0
    assert recorder.before_start_skipped == 41
    record = load(store, session_id, options=ExportOptions())
    write, _binary = writer("json")
    out = io.StringIO()
    write(record, out)
    exported = json.loads(out.getvalue())
    rows = exported["readings"]
    assert rows and min(row["t"] for row in rows) >= exported["session"]["started_at"]  # ISO 8601, one zone
    assert not [row for row in rows if row["parameter"] == "hr" and row["value"] == 120.0]
