"""The NIBP schedule in a running recorder: configurable cycles, cuff starts, nibp_overdue on the timeline.

Runs whole sessions in simulated time: the simulated monitor, and the DINAMAP host driver talking to
its emulated monitor in-process (the same bytes a port would carry, without the port).
"""

from __future__ import annotations

import itertools

import pytest

from drivers.base import Source
from drivers.core.readings import Parameter, Reading
from drivers.dinamap.codec import DinamapDecoder, DinamapSettings
from drivers.dinamap.emulator import DinamapMonitor
from drivers.patient.vitals import PatientFeed
from drivers.simulated.driver import SimulatedSource
from monitor.app.launch import session_spec
from monitor.app.sessions import nibp_schedule
from monitor.cli import build_parser
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.session import EventKind, NibpSchedule, Phase, SessionEvent
from monitor.store import Store

T0 = 1_700_000_000.0


class EmulatedDinamapSource(Source):
    """The DINAMAP driver's decoder wired to its emulated monitor, on a simulated clock."""

    can_start_nibp = True

    def __init__(self, start: float, step: float = 0.5, scenario: str = "normal") -> None:
        super().__init__("ge-dinamap", "emulated DINAMAP")
        self.t = start
        self.step = step
        # The baseline needs SpO2: a V100-class monitor with its oximeter read by OA.
        self.decoder = DinamapDecoder(
            DinamapSettings.from_mapping({"model": "v100", "reply_checksum": "on"})
        )
        self.feed = PatientFeed(scenario=scenario, seed=4, start=start)
        self.monitor = DinamapMonitor(self.feed, model="v100")
        self.sent: list[bytes] = []

    def read(self, timeout: float) -> list[Reading]:
        self.t += self.step
        readings: list[Reading] = []
        out = self.decoder.outgoing(self.t)
        while out:
            self.sent.append(out)
            readings += self.decoder.feed(self.monitor.receive(out, self.t), self.t)
            out = self.decoder.outgoing(self.t)
        return readings

    def now(self) -> float:
        return self.t

    def request_nibp(self) -> bool:
        return self.decoder.request_nibp()

    def on_session_event(self, kind: str, at: float) -> None:
        if kind == "infusion_started":
            self.feed.patient.infusion_started(at)


def run_session(
    store: Store, source: Source, plan: str, schedule: NibpSchedule, until_s: float | None = None
) -> Recorder:
    recorder = Recorder.new_session(
        store,
        source,
        driver=source.name,
        port=None,
        plan=parse_plan(plan),
        autopilot=True,
        nibp_schedule=schedule,
    )
    recorder.run(until=None if until_s is None else lambda r: r.session.now - T0 >= until_s)
    return recorder


def events_of(store: Store, recorder: Recorder, kind: EventKind) -> list[SessionEvent]:
    return [e for e in store.events(recorder.session.id) if e.kind is kind]


def overdue_events(store: Store, recorder: Recorder) -> list[SessionEvent]:
    return [
        e
        for e in events_of(store, recorder, EventKind.TECHNICAL)
        if e.detail.get("condition") == "nibp_overdue"
    ]


def test_cli_cycle_options() -> None:
    parser = build_parser()
    args = parser.parse_args(["record", "--nibp-infusion", "10", "--nibp-recovery", "15"])
    assert nibp_schedule(session_spec(args)) == NibpSchedule(infusion_s=600.0, recovery_s=900.0)
    defaults = nibp_schedule(session_spec(parser.parse_args(["record"])))
    assert (defaults.infusion_s, defaults.recovery_s) == (300.0, 900.0)
    for bad in ("0", "abc", "500"):
        with pytest.raises(SystemExit):
            parser.parse_args(["record", "--nibp-infusion", bad])


@pytest.mark.parametrize("infusion_min", [5.0, 10.0])
def test_simulated_monitor_keeps_the_configured_cycle(store: Store, infusion_min: float) -> None:
    source = SimulatedSource(seed=2, speed=float("inf"), start_time=T0)
    schedule = NibpSchedule(infusion_s=infusion_min * 60, recovery_s=15 * 60)
    recorder = run_session(store, source, "baseline:5,infusion:40,recovery:30", schedule)
    assert recorder.session.phase is Phase.COMPLETE
    requests = events_of(store, recorder, EventKind.NIBP_REQUESTED)
    assert requests[0].phase is Phase.BASELINE
    interval = {Phase.BASELINE: 300.0, Phase.INFUSION: infusion_min * 60, Phase.RECOVERY: 900.0}
    # The cycle runs from start to start, as a monitor's own does: one cycle (of the phase it falls in) after the
    # last cuff started, not after its value (35 s later), which made a 5-minute cycle 5 min 35 s.
    scheduled = [e for e in requests if e.detail.get("reason") == "schedule"]
    for before, after in itertools.pairwise(scheduled):
        assert after.t - before.t == pytest.approx(interval[after.phase], abs=1.5)
    assert len([e for e in requests if e.phase is Phase.INFUSION]) >= 40 // (infusion_min + 1)
    assert [e for e in requests if e.phase is Phase.RECOVERY]
    assert overdue_events(store, recorder) == []
    nibp = list(store.readings(recorder.session.id, [Parameter.NIBP_SYS]))
    assert len(nibp) == len(requests)


def test_failing_cuff_raises_nibp_overdue_once(store: Store) -> None:
    source = SimulatedSource(scenario="cuff_failure", seed=3, speed=float("inf"), start_time=T0)
    # Without a valid cuff the plan cannot complete (discharge needs one): stop at the planned end.
    recorder = run_session(store, source, "baseline:5,infusion:40,recovery:30", NibpSchedule(), until_s=75 * 60)
    assert recorder.session.phase is Phase.RECOVERY
    overdue = overdue_events(store, recorder)
    # Cuff values stop at infusion minute 10; the last one is about minute 5:35 of the infusion.
    assert len(overdue) == 1
    event = overdue[0]
    assert event.phase is Phase.INFUSION
    infusion_start = recorder.session.phase_started_at[Phase.INFUSION]
    last_value = max(
        r.t for r in store.readings(recorder.session.id, [Parameter.NIBP_SYS]) if r.value is not None
    )
    assert event.t - last_value == pytest.approx(1.5 * 300, abs=1.5)
    assert event.detail["interval_s"] == 300.0
    assert event.t > infusion_start


class GappySource(SimulatedSource):
    """A simulated monitor whose cuff gives nothing in some spans (a cuff left off the arm)."""

    def __init__(self, silent: list[tuple[float, float]]) -> None:
        super().__init__(seed=5, speed=float("inf"), start_time=T0)
        self.silent = silent

    def request_nibp(self) -> bool:
        if any(a <= self.now() < b for a, b in self.silent):
            return True  # accepted, but no value will come
        return super().request_nibp()


def test_overdue_again_only_after_a_value_arrived(store: Store) -> None:
    # The infusion starts at minute 5; two spans without cuff values: minutes 10-25 and 35-50.
    gaps = [(T0 + 600, T0 + 1500), (T0 + 2100, T0 + 3000)]
    recorder = Recorder.new_session(
        store,
        GappySource(gaps),
        driver="simulated",
        port=None,
        plan=parse_plan("baseline:5,infusion:55,recovery:30"),
        autopilot=True,
        nibp_schedule=NibpSchedule(),
    )
    recorder.run(until=lambda r: r.session.now >= T0 + 3300)
    overdue = overdue_events(store, recorder)
    assert len(overdue) == 2
    for event, (start, end) in zip(overdue, gaps, strict=True):
        assert start < event.t < end


def test_dinamap_runs_the_schedule_and_the_nurse_can_start_it(store: Store) -> None:
    source = EmulatedDinamapSource(T0)
    recorder = Recorder.new_session(
        store,
        source,
        driver="ge-dinamap",
        port=None,
        plan=parse_plan("baseline:3,infusion:30,recovery:30"),
        autopilot=True,
        nibp_schedule=NibpSchedule(infusion_s=600.0, recovery_s=900.0),
    )
    asked: list[object] = []
    entered: list[object] = []

    def nurse_then_stop(r: Recorder) -> bool:
        if not entered and r.session.now >= T0 + 60:
            # What the protocol asks before the infusion: with a patient's device the plan waits for it.
            entered.append(r.submit("checklist", user="RN", quick="f6 e c m- w80"))
            entered.append(r.submit("plan_dose", user="RN", weight_kg=80, dose_mg_per_kg=0.5))
        if not asked and r.session.now >= T0 + 20 * 60:
            asked.append(r.submit("nibp_now", user="RN"))
        return r.session.now >= T0 + 49 * 60

    recorder.run(until=nurse_then_stop)
    assert asked[0].result(timeout=1) is True  # type: ignore[attr-defined]
    requests = events_of(store, recorder, EventKind.NIBP_REQUESTED)
    starts = [b for b in source.sent if b == b" NC0!E\r"]
    assert len(starts) == len(requests)
    assert any(e.user == "RN" and e.detail["reason"] == "nurse" for e in requests)
    stored = list(store.readings(recorder.session.id, [Parameter.NIBP_SYS]))
    sent = [c for c in source.feed.cuffs if not c.failed]
    assert [r.value for r in stored] == [c.sys for c in sent]
    assert len(stored) == len(requests)
    assert recorder.session.baseline is not None
    status = recorder.status()
    assert status.can_start_nibp is True
    assert status.nibp_next_due is not None
    assert status.nibp_age_s is not None
    assert overdue_events(store, recorder) == []


def test_cuff_starts_are_five_minutes_apart_during_the_infusion() -> None:
    """CLINICAL.md: NIBP every 5 min in the infusion; a real cuff takes 20-45 s to give its value."""
    from monitor.session import Session

    cuff_s = 35.0
    s = Session("s", T0)
    s.start_baseline(T0 + 1)
    for parameter, value in ((Parameter.HR, 70), (Parameter.SPO2, 98)):
        s.observe(Reading(T0 + 2, parameter, value, "t"))
    starts = []
    t = T0 + 2
    while t < T0 + 3600:
        t += 1
        s.advance(t)
        if s.phase is Phase.BASELINE and t >= T0 + 301:
            s.start_infusion(t)
        if s.nibp_due(t):
            s.note_nibp_requested(t)
            if s.phase is Phase.INFUSION:
                starts.append(t)
            for parameter, value in ((Parameter.NIBP_SYS, 120), (Parameter.NIBP_DIA, 80)):
                s.observe(Reading(t + cuff_s, parameter, value, "t"))
    assert {round(b - a) for a, b in itertools.pairwise(starts)} == {300}
