"""Session rules: phases, events, baseline, timers, cuff cycle."""

from __future__ import annotations

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from monitor.plan import SessionPlan
from monitor.session import (
    BaselineMissing,
    EventKind,
    NibpSchedule,
    Phase,
    Session,
    SessionEvent,
    SessionRuleError,
    phase_step_text,
)

T0 = 1_800_000_000.0


def r(t: float, p: Parameter, v: float | None, *flags: Flag) -> Reading:
    return Reading(T0 + t, p, v, "test", frozenset(flags))


def full_baseline(s: Session, at: float = 10.0) -> None:
    for k in range(5):
        s.observe(r(at + k, Parameter.HR, 70 + k))
        s.observe(r(at + k, Parameter.SPO2, 98))
    s.observe(r(at + 5, Parameter.NIBP_SYS, 120))
    s.observe(r(at + 5, Parameter.NIBP_DIA, 80))
    s.observe(r(at + 5, Parameter.NIBP_MEAN, 93))


def infuse(s: Session, at: float) -> None:
    """Take a full baseline from T0 and start the infusion ``at`` seconds after T0."""
    s.start_baseline(T0)
    full_baseline(s)
    s.start_infusion(T0 + at)


def test_happy_path_moves_through_every_phase_and_records_each_transition() -> None:
    s = Session("s1", T0, SessionPlan(5, 40, 30))
    s.start_baseline(T0 + 1, user="RN")
    full_baseline(s)
    s.start_infusion(T0 + 300, user="RN")
    s.start_recovery(T0 + 300 + 2400, user="RN")
    s.complete(T0 + 300 + 2400 + 1800, user="MD")
    kinds = [e.kind for e in s.take_events()]
    assert kinds == [
        EventKind.BASELINE_STARTED,
        EventKind.BASELINE_TAKEN,
        EventKind.INFUSION_STARTED,
        EventKind.INFUSION_STOPPED,
        EventKind.RECOVERY_STARTED,
        EventKind.SESSION_COMPLETED,
    ]
    assert s.phase is Phase.COMPLETE
    assert s.phases_reached == list(Phase)


def test_infusion_cannot_start_without_baseline_phase() -> None:
    s = Session("s1", T0)
    with pytest.raises(BaselineMissing, match="take a baseline first"):
        s.start_infusion(T0 + 5)
    assert s.phase is Phase.SETUP


def test_infusion_refused_while_baseline_lacks_nibp_and_message_names_it() -> None:
    s = Session("s1", T0)
    s.start_baseline(T0)
    s.observe(r(1, Parameter.PR, 72))
    s.observe(r(1, Parameter.SPO2, 97))
    assert s.baseline_missing() == ["blood pressure (NIBP)"]
    with pytest.raises(BaselineMissing, match=r"blood pressure \(NIBP\)"):
        s.start_infusion(T0 + 60)
    assert s.phase is Phase.BASELINE
    assert s.baseline is None


def test_baseline_ignores_unreliable_values_and_uses_pr_without_ecg() -> None:
    s = Session("s1", T0)
    s.start_baseline(T0)
    s.observe(r(1, Parameter.PR, 72))
    s.observe(r(2, Parameter.PR, 200, Flag.ARTIFACT))
    s.observe(r(3, Parameter.PR, 74))
    s.observe(r(1, Parameter.SPO2, None, Flag.SENSOR_OFF))
    assert "SpO2" in s.baseline_missing()
    s.observe(r(4, Parameter.SPO2, 96))
    s.observe(r(5, Parameter.NIBP_SYS, 130))
    s.observe(r(5, Parameter.NIBP_DIA, 70))
    s.start_infusion(T0 + 10)
    b = s.baseline
    assert b is not None
    assert b.heart_rate == 73.0
    assert b.heart_rate_parameter is Parameter.PR
    assert b.spo2 == 96.0
    # No cuff mean: estimated as dia + (sys - dia) / 3.
    assert b.nibp_mean == pytest.approx(90.0)


def test_readings_before_baseline_phase_do_not_count_towards_it() -> None:
    s = Session("s1", T0)
    full_baseline(s, at=1.0)  # still in setup
    s.start_baseline(T0 + 20)
    assert set(s.baseline_missing()) == {"heart rate", "SpO2", "blood pressure (NIBP)"}


def test_infusion_elapsed_excludes_pauses_and_stops_at_stop() -> None:
    s = Session("s1", T0)
    infuse(s, 100)
    s.advance(T0 + 700)
    assert s.infusion_elapsed() == 600
    s.pause_infusion(T0 + 700, reason="line check")
    s.advance(T0 + 760)
    assert s.infusion_elapsed() == 600
    with pytest.raises(SessionRuleError):
        s.pause_infusion(T0 + 761)
    s.resume_infusion(T0 + 760)
    s.advance(T0 + 820)
    assert s.infusion_elapsed() == 660
    s.stop_infusion(T0 + 820)
    s.advance(T0 + 2000)
    assert s.infusion_elapsed() == 660


def test_recovery_countdown_uses_the_plan_and_goes_negative_after() -> None:
    s = Session("s1", T0, SessionPlan(5, 40, 30))
    assert s.recovery_remaining() is None
    infuse(s, 300)
    s.start_recovery(T0 + 2700)
    s.advance(T0 + 2700 + 600)
    assert s.recovery_remaining() == 1200
    s.advance(T0 + 2700 + 1860)
    assert s.recovery_remaining() == -60


def test_phases_cannot_go_backwards_or_skip() -> None:
    s = Session("s1", T0)
    with pytest.raises(SessionRuleError):
        s.start_recovery(T0)
    with pytest.raises(SessionRuleError):
        s.complete(T0)
    infuse(s, 60)
    with pytest.raises(SessionRuleError):
        s.start_baseline(T0 + 61)


def test_completed_session_accepts_only_addenda() -> None:
    s = Session("s1", T0, SessionPlan(1, 1, 1))
    infuse(s, 60)
    s.start_recovery(T0 + 120)
    s.complete(T0 + 180)
    with pytest.raises(SessionRuleError, match="addendum"):
        s.record(EventKind.NOTE, text="late note")
    event = s.record(EventKind.ADDENDUM, user="MD", text="reviewed")
    assert event.user == "MD"


def test_clock_never_goes_backwards() -> None:
    s = Session("s1", T0)
    s.observe(r(100, Parameter.HR, 70))
    s.observe(r(50, Parameter.HR, 70))
    assert s.now == T0 + 100


def test_displayed_heart_rate_prefers_ecg_and_falls_back_to_pulse() -> None:
    s = Session("s1", T0)
    s.observe(r(1, Parameter.PR, 71))
    assert s.displayed_heart_rate().parameter is Parameter.PR
    s.observe(r(2, Parameter.HR, 72))
    assert s.displayed_heart_rate().parameter is Parameter.HR
    s.observe(r(30, Parameter.PR, 75))  # ECG silent for 28 s: show the pulse rate
    assert s.displayed_heart_rate().parameter is Parameter.PR


def test_nibp_cycle_follows_the_phase_schedule() -> None:
    s = Session("s1", T0, nibp_schedule=NibpSchedule(300, 300, 900))
    assert s.nibp_next_due() is None  # no automatic cuff in setup
    s.start_baseline(T0 + 10)
    assert s.nibp_due(T0 + 10)
    s.note_nibp_requested(T0 + 10)
    assert not s.nibp_due(T0 + 20)  # measurement running
    s.observe(r(45, Parameter.NIBP_SYS, 120))
    s.observe(r(45, Parameter.NIBP_DIA, 80))
    s.observe(r(46, Parameter.HR, 70))
    s.observe(r(46, Parameter.SPO2, 98))
    # From the start of the last cuff (T0 + 10), not from its value 35 s later.
    assert s.nibp_next_due() == T0 + 10 + 300
    s.start_infusion(T0 + 100)
    assert not s.nibp_due(T0 + 309)
    assert s.nibp_due(T0 + 310)
    assert s.nibp_age(T0 + 345) == 300
    assert not s.nibp_overdue(T0 + 45 + 450)
    assert s.nibp_overdue(T0 + 45 + 451)


def test_replay_rebuilds_phase_baseline_and_timers() -> None:
    s = Session("s1", T0)
    infuse(s, 300)
    s.pause_infusion(T0 + 400)
    s.resume_infusion(T0 + 460)
    events = s.take_events()
    copy = Session("s1", T0)
    copy.replay(events)
    copy.advance(T0 + 1000)
    s.advance(T0 + 1000)
    assert copy.phase is Phase.INFUSION
    assert copy.baseline == s.baseline
    assert copy.infusion_elapsed() == s.infusion_elapsed() == 640
    assert copy.take_events() == []


@pytest.mark.parametrize(
    ("kind", "words", "text"),
    [
        (EventKind.INFUSION_STOPPED, None, "infusion stopped"),
        (EventKind.INFUSION_STOPPED, {Phase.INFUSION: "dosing"}, "dosing stopped"),
        (EventKind.INFUSION_PAUSED, {Phase.INFUSION: "dosing"}, "dosing paused"),
        (EventKind.BASELINE_STARTED, {Phase.BASELINE: "pre-dose"}, "pre-dose started"),
        (EventKind.RECOVERY_STARTED, {Phase.INFUSION: "dosing"}, "recovery started"),
        (EventKind.RECOVERY_STARTED, {Phase.RECOVERY: "observation"}, "observation started"),
        (EventKind.NOTE, {Phase.INFUSION: "dosing"}, None),
        (EventKind.SESSION_COMPLETED, None, None),
    ],
)
def test_a_phase_step_is_named_after_the_phase_as_the_protocol_calls_it(
    kind: EventKind, words: dict[Phase, str] | None, text: str | None
) -> None:
    assert phase_step_text(kind, words) == text


def test_replay_keeps_the_cuff_cycle_from_the_start_of_the_last_cuff() -> None:
    """After a restart the next cuff was due a cycle after the last value (35 s after its start) once."""
    s = Session("s1", T0, nibp_schedule=NibpSchedule(300, 300, 900))
    infuse(s, 300)
    s.note_nibp_requested(T0 + 400)
    s.observe(r(435, Parameter.NIBP_SYS, 120))
    s.observe(r(435, Parameter.NIBP_DIA, 80))
    assert s.nibp_next_due() == T0 + 700
    again = Session("s1", T0, nibp_schedule=NibpSchedule(300, 300, 900))
    again.replay(s.take_events(), [r(435, Parameter.NIBP_SYS, 120), r(435, Parameter.NIBP_DIA, 80)])
    assert again.nibp_next_due() == T0 + 700


def _event(t: float, kind: EventKind) -> SessionEvent:
    return SessionEvent(T0 + t, kind, Phase.SETUP, "RN", {})


# Stored before an interruption: events, cuff values (at, systolic); resumed at; then whether a cuff is due at
# once, and the lost cuff's start.
CUFF_AT_INTERRUPTION = [
    # Start baseline starts the cuff; the program was killed before its value came.
    ([(0, EventKind.BASELINE_STARTED), (0.5, EventKind.NIBP_REQUESTED)], [], 23.0, True, 0.5),
    # The cuff started with the infusion (at 300 s; the baseline's at 1 s gave 120) was lost with the program.
    ([(0, EventKind.BASELINE_STARTED), (1, EventKind.NIBP_REQUESTED), (300, EventKind.INFUSION_STARTED),
      (300, EventKind.NIBP_REQUESTED)], [(40, 120)], 330.0, True, 300.0),
    # Answered before the interruption: nothing lost, the next cuff comes on its cycle.
    ([(0, EventKind.BASELINE_STARTED), (1, EventKind.NIBP_REQUESTED), (300, EventKind.INFUSION_STARTED),
      (300, EventKind.NIBP_REQUESTED)], [(40, 120), (335, 124)], 360.0, False, None),
]


@pytest.mark.parametrize(("stored", "cuffs", "resumed", "due", "lost"), CUFF_AT_INTERRUPTION)
def test_a_cuff_lost_at_an_interruption_holds_up_no_new_one(stored: list[tuple[float, EventKind]],
                                                           cuffs: list[tuple[float, float]], resumed: float,
                                                           due: bool, lost: float | None) -> None:
    """Held as pending after the resume, the lost cuff kept the next one back for 150 s while the screen said one
    was due (its value never comes to the new process)."""
    s = Session("s", T0, SessionPlan(3, 40, 30))
    readings = [r(t, p, v) for t, v in cuffs
                for p, v in ((Parameter.NIBP_SYS, v), (Parameter.NIBP_DIA, 80), (Parameter.NIBP_MEAN, 93))]
    s.replay([_event(t, kind) for t, kind in stored], readings)
    s.advance(T0 + resumed)
    assert s.nibp_due() is due
    assert s.cuff_lost_at == (None if lost is None else T0 + lost)
