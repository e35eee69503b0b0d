"""Invariants of the engine over random readings, silences and commands."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.core.readings import Flag
from monitor.alarms.model import AlarmKind, Priority

from .conftest import Bed

PARAMETERS = ["hr", "pr", "spo2", "nibp_sys", "nibp_dia"]
# Values on both sides of the default limits, so that ladders, latching and recovery all happen.
values = st.one_of(st.none(), st.sampled_from([40, 49, 50, 70, 85, 89, 90, 91, 97, 112, 121, 151, 166, 181]))
flags = st.sets(st.sampled_from([Flag.ARTIFACT, Flag.SENSOR_OFF, Flag.PULSE_SEARCH, Flag.INVALID,
                                 Flag.MEASUREMENT_FAILED]), max_size=1)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("reading"), st.sampled_from(PARAMETERS), values, flags, st.integers(5, 20)),
        st.tuples(st.just("wait"), st.integers(1, 400)),
        st.tuples(st.just("command"), st.sampled_from(["acknowledge", "pause_audio", "reset", "resume_audio"])),
        st.tuples(st.just("phase")),
    ),
    min_size=10,
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_engine_invariants(script):
    bed = Bed()
    phases = iter(["baseline", "infusion", "recovery"])
    for step in script:
        if step[0] == "reading":
            _, parameter, value, flag_set, repeat = step
            for _ in range(repeat + 1):
                bed.reading(parameter, value, bed.now + 1, flags=flag_set)
        elif step[0] == "wait":
            bed.wait(step[1])
        elif step[0] == "command":
            bed.command(step[1])
        else:
            phase = next(phases, None)
            if phase == "baseline":
                bed.session.start_baseline(bed.now, "RN")
            elif phase == "infusion" and not bed.session.baseline_missing():
                bed.session.start_infusion(bed.now, "RN")
            elif phase == "recovery" and bed.session.phase.value == "infusion":
                bed.session.start_recovery(bed.now, "RN")
            bed.events()
        snap = bed.snapshot()
        for alarm in snap.active:
            if alarm.latched:
                # Only unacknowledged high-priority physiological alarms outlive their condition.
                assert alarm.kind is AlarmKind.PHYSIOLOGICAL
                assert alarm.priority is Priority.HIGH
                assert not alarm.silenced
        unacknowledged = [a.priority for a in snap.active if not a.silenced]
        if snap.audio_paused_until is None:
            assert snap.sounding == max(unacknowledged, default=None)
        else:
            assert snap.sounding is None
        assert list(snap.active) == sorted(snap.active, key=lambda a: (-a.priority, a.started_at))
    for row in bed.rows.values():
        assert row.state in ("active", "latched", "ended")
        assert (row.ended_at is not None) is (row.state != "active")
        if row.ended_at is not None:
            assert row.ended_at >= row.started_at
        if row.state == "latched":
            assert row.priority.label == "high"
            assert row.kind == "physiological"
    shown = {a.id for a in bed.snapshot().active}
    assert shown == {r.id for r in bed.rows.values() if r.state != "ended"}
