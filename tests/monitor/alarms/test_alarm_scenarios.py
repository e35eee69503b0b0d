"""Recorded simulator scenarios through the real recorder and a SQLite file: the alarm log they leave."""

from __future__ import annotations

import io
import json
import math

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine, AlarmPermissionError
from monitor.alarms.model import AlarmRecord, Priority
from monitor.cli import main
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.monitor.alarms.conftest import ALARM_FIELDS

PLAN = SessionPlan(2, 40, 5)
START = 1_700_000_000.0


def record(
    store: Store, scenario: str, seed: int = 1, until_s: float | None = None
) -> tuple[Recorder, list[AlarmRecord]]:
    """Run a whole planned session at full speed and return the stored alarm log.

    With ``until_s`` the recording stops after that much session time (a session the plan cannot
    complete, e.g. without a valid cuff for discharge); otherwise it must complete.
    """
    source = SimulatedSource(scenario, seed, speed=math.inf, start_time=START, plan=PLAN.phase_times())
    recorder = Recorder.new_session(
        store, source, driver="simulated", port=None, plan=PLAN, autopilot=True, alarms=AlarmEngine()
    )
    if until_s is None:
        recorder.run()
        assert recorder.end_status == "complete"
    else:
        recorder.run(until=lambda r: r.session.now - START >= until_s)
    return recorder, store.alarms(recorder.session.id)


def by_condition(alarms: list[AlarmRecord]) -> dict[str, list[AlarmRecord]]:
    out: dict[str, list[AlarmRecord]] = {}
    for alarm in alarms:
        out.setdefault(alarm.condition, []).append(alarm)
    return out


def infusion_min(recorder: Recorder, t: float) -> float:
    from monitor.session import Phase

    return (t - recorder.session.phase_started_at[Phase.INFUSION]) / 60


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_normal_session_has_nothing_above_low_priority(store, seed):
    _recorder, alarms = record(store, "normal", seed)
    assert [a for a in alarms if a.priority.label != "low"] == []
    assert all(a.kind == "physiological" for a in alarms), "a normal session has no technical trouble"


def test_desaturation(store):
    recorder, alarms = record(store, "desaturation")
    found = by_condition(alarms)
    (severe,) = found["spo2_low_severe"]
    assert severe.priority.label == "high"
    assert severe.limit == 90
    assert severe.peak_value <= 87
    assert 20 <= infusion_min(recorder, severe.started_at) <= 21.5
    assert severe.ended_at - severe.started_at >= 45
    assert found["spo2_low"][0].priority.label == "medium"
    assert found["spo2_low"][0].started_at <= severe.started_at, "the medium rung comes first"
    assert set(found) <= {"spo2_low", "spo2_low_severe", "bp_above_baseline"}


def test_hypertension(store):
    recorder, alarms = record(store, "hypertension")
    found = by_condition(alarms)
    crisis = found["nibp_sys_crisis"][0]
    assert crisis.priority.label == "high"
    assert crisis.peak_value > 185
    assert crisis.limit == 180
    assert 24 <= infusion_min(recorder, crisis.started_at) <= 36
    assert "repeat NIBP to confirm" in crisis.message
    assert "bp_above_baseline_severe" in found
    assert all(a.kind == "physiological" for a in alarms)


def test_bradycardia(store):
    recorder, alarms = record(store, "bradycardia")
    (low,) = by_condition(alarms)["hr_low"]
    assert low.priority.label == "high"
    assert low.parameter == "hr"
    assert low.peak_value <= 45
    assert 15 <= infusion_min(recorder, low.started_at) <= 16
    assert 90 <= low.ended_at - low.started_at <= 150
    assert {a.condition for a in alarms} <= {"hr_low", "bp_above_baseline"}


def test_probe_off(store):
    recorder, alarms = record(store, "probe_off")
    (off,) = by_condition(alarms)["sensor_off"]
    assert off.kind == "technical"
    assert off.parameter == "spo2"
    assert off.priority.label == "medium", "back at 60 s: the probe's values no longer lost, no rise to high"
    # Off for 60 s, then the alarm's end hold with usable values.
    hold = AlarmEngine().profile.end_hold_s
    assert off.ended_at - off.started_at == pytest.approx(60 + hold, abs=1)
    assert infusion_min(recorder, off.started_at) == pytest.approx(10, abs=0.05)
    assert not [a for a in alarms if a.condition.startswith("spo2")], "no SpO2 alarm from a missing value"


def test_cuff_failure(store):
    # Every cuff fails from infusion minute 10: discharge waits for a valid cuff, so the plan cannot complete.
    recorder, alarms = record(store, "cuff_failure", until_s=70 * 60)
    assert recorder.end_status == "closed"
    events = store.events(recorder.session.id)
    assert any(e.kind.value == "nibp_requested" and e.detail.get("reason") == "discharge" for e in events)
    assert not any(e.kind.value == "session_completed" for e in events)
    found = by_condition(alarms)
    (failed,) = found["nibp_failed"]
    assert failed.kind == "technical"
    assert infusion_min(recorder, failed.started_at) >= 10
    overdue = found["nibp_overdue"][0]  # and again in recovery, whose cycle is longer
    assert overdue.kind == "technical"
    assert overdue.started_at > failed.started_at
    # Unacknowledged for 5 min: the medium alarm escalates to high, and the log says when.
    assert overdue.priority.label == "high"
    assert [(e.from_priority.label, e.to.label) for e in overdue.escalations] == [("medium", "high")]
    assert overdue.escalations[0].at - overdue.started_at == pytest.approx(300, abs=1)


def test_link_loss(store):
    recorder, alarms = record(store, "link_loss")
    found = by_condition(alarms)
    (lost,) = found["link_lost"]
    assert lost.kind == "technical"
    assert lost.priority.label == "medium"
    assert lost.ended_at - lost.started_at == pytest.approx(45, abs=1)
    assert infusion_min(recorder, lost.started_at) == pytest.approx(12, abs=0.05)
    assert "no_data" not in found


def test_commands_through_the_recorder_are_checked_and_audited(store):
    source = SimulatedSource("normal", 1, speed=math.inf, start_time=START, plan=PLAN.phase_times())
    recorder = Recorder.new_session(
        store, source, driver="simulated", port=None, plan=PLAN, nurse="RN", alarms=AlarmEngine()
    )
    refused = recorder.submit("set_limit", user="RN", rule="spo2_low", limit=94, role="nurse")
    accepted = recorder.submit("set_limit", user="ADM", rule="spo2_low", limit=94, role="admin")
    recorder.step()
    with pytest.raises(AlarmPermissionError):
        refused.result(timeout=1)
    assert accepted.result(timeout=1)["after"] == "spo2 < 94"
    recorder.run(until=lambda r: True)
    audit = [row for row in store.audit_log(recorder.session.id) if row["action"] == "set_limit"]
    assert len(audit) == 1
    assert audit[0]["user"] == "ADM"
    assert json.loads(audit[0]["detail"]) == {"rule": "spo2_low", "limit": 94, "role": "admin"}
    [attempt] = [row for row in store.audit_log(recorder.session.id) if row["action"] == "set_limit_refused"]
    assert attempt["user"] == "RN"
    assert "admin" in json.loads(attempt["detail"])["reason"]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("INFUSION_MONITOR_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("INFUSION_MONITOR_PROFILE", raising=False)
    monkeypatch.delenv("INFUSION_MONITOR_DB", raising=False)
    return tmp_path


def test_record_prints_alarms_and_json_export_carries_the_log(clean_env):
    db = str(clean_env / "cli.db")
    out = io.StringIO()
    code = main(
        [
            "record",
            "--db",
            db,
            "--scenario",
            "desaturation",
            "--speed",
            "max",
            "--quiet",
            "--plan",
            "baseline:2,infusion:25,recovery:5",
            "--nurse",
            "RN",
        ],
        out=out,
    )
    assert code == 0
    lines = out.getvalue().splitlines()
    started = [line for line in lines if "(spo2_low_severe) started" in line]
    assert len(started) == 1
    assert started[0].startswith("*** ")
    assert "SpO2" in started[0]
    assert "< 90 %" in started[0]
    assert any(line.startswith("** ") and "(spo2_low) started" in line for line in lines)
    assert any("(spo2_low_severe) value recovered, latched until acknowledged" in line for line in lines)

    export = clean_env / "session.json"
    assert (
        main(["export", "latest", "--db", db, "--format", "json", "--out", str(export)], out=io.StringIO())
        == 0
    )
    document = json.loads(export.read_text())
    severe = next(a for a in document["alarms"] if a["condition"] == "spo2_low_severe")
    assert not ALARM_FIELDS - severe.keys(), sorted(ALARM_FIELDS - severe.keys())
    assert severe["priority"] == "high"
    assert severe["kind"] == "physiological"
    assert severe["limit"] == 90
    assert severe["started_at"].endswith("+00:00")
    assert severe["ended_at"].endswith("+00:00")
    assert isinstance(severe["escalations"], list)

    with Store(db) as s:
        audit = [row for row in s.audit_log() if row["action"] == "alarm_profile_loaded"]
    assert len(audit) == 1
    assert json.loads(audit[0]["detail"])["profile"] == "default"


def test_record_with_a_broken_profile_warns_and_keeps_the_built_in_one(clean_env):
    bad = clean_env / "bad.toml"
    bad.write_text('[rules.spo2_low]\nparameter = "spo2"\nbelow = 920\npriority = "medium"\ndelay_s = 1\n')
    out = io.StringIO()
    code = main(
        [
            "record",
            "--db",
            str(clean_env / "x.db"),
            "--speed",
            "max",
            "--quiet",
            "--profile",
            str(bad),
            "--plan",
            "baseline:1,infusion:1,recovery:1",
        ],
        out=out,
    )
    assert code == 0
    text = out.getvalue()
    assert "warning: alarm profile not used:" in text
    assert "line 5, field rules.spo2_low.delay_s" in text
    assert "alarm profile built-in default (sha256 " in text


def test_escalation_times_are_iso_in_the_json_export(store):
    from monitor.exports.data import load
    from monitor.exports.json_export import document

    recorder, _alarms = record(store, "cuff_failure", until_s=70 * 60)
    exported = document(load(store, recorder.session.id))
    overdue = next(a for a in exported["alarms"] if a["condition"] == "nibp_overdue")
    (step,) = overdue["escalations"]
    assert step["at"].endswith("+00:00")
    assert (step["from"], step["to"]) == ("medium", "high")


def test_alarms_left_open_by_a_stopped_recording_are_closed_or_kept_latched_on_resume(store):
    source = SimulatedSource("desaturation", 1, speed=math.inf, start_time=START, plan=PLAN.phase_times())
    first = Recorder.new_session(store, source, driver="simulated", port=None, plan=PLAN,
                                 autopilot=True, alarms=AlarmEngine())
    # Stop in the middle of the desaturation as a crash would: no session end to close the alarms.
    while not any(a.condition == "spo2_low_severe" for a in first.alarms.snapshot(first.session.now).active):
        first.step()
    first.flush()
    source.close()
    open_rows = [a for a in store.alarms(first.session.id) if a.state != "ended"]
    assert open_rows
    resumed_engine = AlarmEngine()
    stopped_at = first.session.now
    assert resumed_engine.close_interrupted(store.alarms(first.session.id), stopped_at + 30,
                                            stopped_at=stopped_at) == len(open_rows)
    store.write_batch(first.session.id, alarms=resumed_engine.take_changes())
    after = {a.id: a for a in store.alarms(first.session.id)}
    unanswered_high = [a for a in open_rows
                       if a.kind.value == "physiological" and a.priority.label == "high" and a.acknowledged_at is None]
    assert unanswered_high  # the SpO2 < 90 nobody acknowledged
    for old in open_rows:
        # The condition was last seen when the recording stopped: the 30 s until the resume are not its.
        assert after[old.id].ended_at == stopped_at
        if old in unanswered_high:
            # Nobody answered it: it stays on screen, latched, until a person acknowledges it.
            assert after[old.id].state == "latched"
            assert after[old.id].message.endswith("(before the recording was interrupted)")
        else:
            assert after[old.id].state == "ended"
            assert after[old.id].message.endswith("(recording interrupted)")
    shown = {a.id for a in resumed_engine.snapshot(first.session.now + 30).active}
    assert shown == {a.id for a in unanswered_high}
    resumed_engine.command("acknowledge", first.session.now + 40, "RN")
    assert not resumed_engine.snapshot(first.session.now + 40).active
    store.write_batch(first.session.id, alarms=resumed_engine.take_changes())
    assert all(a.state == "ended" for a in store.alarms(first.session.id) if a.id in shown)


def _infusion_start(store: Store, recorder: Recorder) -> float:
    return next(e.t for e in store.events(recorder.session.id) if e.kind.value == "infusion_started")


def test_flickering_desaturation_alarms_high_within_about_20_s(store):
    recorder, alarms = record(store, "flicker_desaturation")
    flicker_at = _infusion_start(store, recorder) + 20 * 60
    (severe,) = by_condition(alarms)["spo2_low_severe"]
    assert severe.priority.label == "high"
    assert 15 <= severe.started_at - flicker_at <= 21
    assert severe.peak_value == 85
    # It ends only once the value has been clear for the 5 s hold, after the flicker is over (the
    # last 93 % at +59 s already counts as clear).
    assert severe.ended_at >= flicker_at + 59 + 5


def test_spo2_dashes_without_a_flag_are_a_technical_alarm(store):
    recorder, alarms = record(store, "spo2_dashes")
    dashes_at = _infusion_start(store, recorder) + 10 * 60
    no_data = [a for a in by_condition(alarms)["no_data"] if a.parameter == "spo2"]
    (alarm,) = no_data
    assert alarm.kind == "technical"
    assert alarm.priority in (Priority.MEDIUM, Priority.HIGH)  # medium, high after 60 s during the infusion
    assert 10 <= alarm.started_at - dashes_at <= 12
    assert "value missing (dashes)" in alarm.message
    assert alarm.ended_at == pytest.approx(dashes_at + 60, abs=1)
    assert not [a for a in alarms if a.condition.startswith("spo2_low")]


def test_failed_cuff_after_a_high_one_keeps_the_bp_alarms_and_confirms_once(store):
    recorder, alarms = record(store, "failed_cuff_after_high")
    found = by_condition(alarms)
    (high,) = found["nibp_dia_high"]
    (failed,) = found["nibp_failed"]
    # Medium, and unacknowledged through the failed cuffs for 5 min it escalated to high.
    assert [(e.from_priority.label, e.to.label) for e in high.escalations] == [("medium", "high")]
    assert failed.started_at > high.started_at
    # The failed cuffs do not end it: only the next valid cuff (from infusion minute 35) does.
    infusion = _infusion_start(store, recorder)
    assert high.ended_at >= infusion + 35 * 60
    requests = [
        e for e in store.events(recorder.session.id)
        if e.kind.value == "nibp_requested" and e.detail.get("reason") == "confirm alarm"
    ]
    assert len(requests) == 1, "one confirming cuff per breach"
    assert 0 < requests[0].t - high.started_at <= 60


def test_hypertensive_baseline_holds_the_plan_until_a_reasoned_override(store):
    source = SimulatedSource("hypertensive_baseline", 1, speed=math.inf, start_time=START, plan=PLAN.phase_times())
    recorder = Recorder.new_session(
        store, source, driver="simulated", port=None, plan=PLAN, autopilot=True, nurse="RN", alarms=AlarmEngine()
    )
    recorder.run(until=lambda r: r.session.now - START >= 8 * 60)
    # Still in the baseline after 8 min: the plan never overrides a hold.
    from monitor.session import Phase

    assert recorder.session.phase is Phase.BASELINE
    check = recorder.status().step_check
    assert check is not None and "baseline_bp_hold" in {b.code for b in check.blockers}
    assert check.baseline is not None and check.baseline.nibp_sys >= 165


def test_start_infusion_override_is_recorded_on_the_timeline_and_in_the_audit_log(store):
    source = SimulatedSource("hypertensive_baseline", 1, speed=math.inf, start_time=START, plan=PLAN.phase_times())
    recorder = Recorder.new_session(
        store, source, driver="simulated", port=None, plan=PLAN, nurse="RN", alarms=AlarmEngine()
    )
    recorder.submit("start_baseline", user="RN")
    recorder.run(until=lambda r: r.session.now - START >= 4 * 60)
    refused = recorder.submit("start_infusion", user="RN")
    recorder.step()
    from monitor.readiness import OverrideRequired

    with pytest.raises(OverrideRequired, match="hold threshold"):
        refused.result(timeout=1)
    accepted = recorder.submit(
        "start_infusion", user="DrX", override_reason="BP 172/104 accepted: usual for this patient"
    )
    recorder.run(until=lambda r: r.session.phase.value == "infusion")
    accepted.result(timeout=1)
    started = next(e for e in store.events(recorder.session.id) if e.kind.value == "infusion_started")
    assert started.detail["override_reason"].startswith("BP 172/104 accepted")
    # The default protocol's checklist and dose were not entered in this session: overridden with the same reason.
    assert started.detail["overridden"] == ["baseline_bp_hold", "checklist", "dose_plan"]
    audit = [row for row in store.audit_log(recorder.session.id) if row["action"] == "start_infusion"]
    assert json.loads(audit[0]["detail"])["override_reason"].startswith("BP 172/104")
    assert audit[0]["user"] == "DrX"
