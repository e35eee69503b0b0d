"""The simulated monitor: determinism, realistic ranges, cuff on request, scenarios, pacing."""

from __future__ import annotations

import math
import statistics

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from drivers.patient.model import SCENARIOS, ScenarioError, SimulatedPatient, ketamine_effect
from drivers.simulated.driver import SimulatedSource

T0 = 1_800_000_000.0


def run(source: SimulatedSource, seconds: int) -> list[Reading]:
    out: list[Reading] = []
    source.open()
    while source.now() < T0 + seconds:
        out.extend(source.read(0.0))
    return [r for r in out if r.t < T0 + seconds]


def values(readings: list[Reading], p: Parameter) -> list[float]:
    return [r.value for r in readings if r.parameter is p and r.value is not None]


def test_same_seed_same_readings_different_seed_different() -> None:
    a = run(SimulatedSource(seed=7, speed=math.inf, start_time=T0), 600)
    b = run(SimulatedSource(seed=7, speed=math.inf, start_time=T0), 600)
    c = run(SimulatedSource(seed=8, speed=math.inf, start_time=T0), 600)
    assert a == b
    assert a != c


def test_numerics_once_a_second_in_realistic_ranges() -> None:
    readings = run(SimulatedSource(seed=3, speed=math.inf, start_time=T0), 300)
    hr = values(readings, Parameter.HR)
    spo2 = values(readings, Parameter.SPO2)
    assert len(hr) == 300
    assert min(hr) >= 65 and max(hr) <= 95
    assert min(spo2) >= 95 and max(spo2) <= 99
    assert statistics.pstdev(hr) > 0.5  # beat-to-beat noise, not a flat line
    assert [r.t for r in readings if r.parameter is Parameter.HR][:3] == [T0, T0 + 1, T0 + 2]


def test_cuff_measures_only_on_request_and_takes_realistic_time() -> None:
    source = SimulatedSource(seed=1, speed=math.inf, start_time=T0)
    early = run(source, 60)
    assert not values(early, Parameter.NIBP_SYS)
    assert source.request_nibp()
    later = run(source, 120)
    sys_r = [r for r in later if r.parameter is Parameter.NIBP_SYS]
    assert len(sys_r) == 1
    assert 35 <= sys_r[0].t - (T0 + 60) <= 40
    assert {r.parameter for r in later if r.t == sys_r[0].t} >= {Parameter.NIBP_DIA, Parameter.NIBP_MEAN}


def test_ketamine_raises_bp_about_15_10_with_a_peak_30_to_40_min_in() -> None:
    patient = SimulatedPatient("normal", seed=2, start=T0)
    patient.infusion_started(T0)
    base_sys, base_dia = patient.blood_pressure(T0 - 1)
    curve = [(m, patient.blood_pressure(T0 + m * 60)) for m in range(0, 41)]
    peak_minute, (peak_sys, peak_dia) = max(curve, key=lambda item: item[1][0])
    assert 30 <= peak_minute <= 40
    assert 12 <= peak_sys - base_sys <= 18
    assert 7 <= peak_dia - base_dia <= 12
    patient.infusion_stopped(T0 + 40 * 60)
    sys_late, _ = patient.blood_pressure(T0 + 80 * 60)
    assert sys_late - base_sys < 5  # fades during recovery
    assert ketamine_effect(-1, 40) == 0


def test_pleth_at_75_hz_when_enabled() -> None:
    readings = run(SimulatedSource(seed=1, speed=math.inf, start_time=T0, pleth=True), 10)
    pleth = [r for r in readings if r.parameter is Parameter.PLETH]
    assert len(pleth) == 750
    assert pleth[1].t - pleth[0].t == pytest.approx(1 / 75)
    assert max(r.value for r in pleth) > 80 and min(r.value for r in pleth) < 20


def _scenario(name: str, minutes: int) -> list[Reading]:
    source = SimulatedSource(scenario=name, seed=1, speed=math.inf, start_time=T0)
    source.on_session_event("infusion_started", T0 + 60)
    out = []
    source.open()
    while source.now() < T0 + 60 + minutes * 60:
        if int(source.now() - T0) % 300 == 0:
            source.request_nibp()
        out.extend(source.read(0.0))
    return out


def test_hypertension_scenario_passes_185_systolic_around_minute_30() -> None:
    readings = _scenario("hypertension", 40)
    high = [r for r in readings if r.parameter is Parameter.NIBP_SYS and r.value and r.value > 185]
    assert high
    assert all(20 <= (r.t - T0 - 60) / 60 <= 40 for r in high)


def test_desaturation_scenario_reaches_86_for_about_a_minute() -> None:
    readings = _scenario("desaturation", 25)
    low = [r for r in readings if r.parameter is Parameter.SPO2 and r.value is not None and r.value <= 87]
    assert 50 <= len(low) <= 90
    assert min(r.value for r in low) <= 86


def test_probe_off_scenario_reports_missing_values_with_sensor_off() -> None:
    readings = _scenario("probe_off", 12)
    off = [r for r in readings if r.parameter is Parameter.SPO2 and r.value is None]
    assert len(off) == 60
    assert all(Flag.SENSOR_OFF in r.flags for r in off)


def test_cuff_failure_scenario_fails_measurements_after_minute_10() -> None:
    readings = _scenario("cuff_failure", 20)
    sys_r = [r for r in readings if r.parameter is Parameter.NIBP_SYS]
    assert any(r.value is not None for r in sys_r if r.t < T0 + 60 + 600)
    late = [r for r in sys_r if r.t >= T0 + 60 + 600]
    assert late and all(r.value is None and Flag.MEASUREMENT_FAILED in r.flags for r in late)


def test_link_loss_scenario_goes_silent_and_reports_link_events() -> None:
    source = SimulatedSource(scenario="link_loss", seed=1, speed=math.inf, start_time=T0)
    source.on_session_event("infusion_started", T0)
    readings = run(source, 15 * 60)
    events = source.take_link_events()
    assert [e.kind.value for e in events] == ["link_lost", "link_restored"]
    assert events[1].t - events[0].t == 45
    gap = [r for r in readings if events[0].t <= r.t < events[1].t]
    assert gap == []


def test_bradycardia_scenario_drops_the_heart_rate() -> None:
    readings = _scenario("bradycardia", 20)
    assert min(values(readings, Parameter.HR)) <= 45


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ScenarioError, match="unknown scenario 'sepsis'"):
        SimulatedSource(scenario="sepsis")
    assert set(SCENARIOS) == {
        "normal", "hypertension", "desaturation", "bradycardia", "probe_off", "cuff_failure", "link_loss", "soak",
        "flicker_desaturation", "spo2_dashes", "failed_cuff_after_high", "hypertensive_baseline",
        "capnography", "respiratory_depression",
    }


def test_flicker_scenario_alternates_85_and_93_for_a_minute() -> None:
    readings = _scenario("flicker_desaturation", 22)
    spo2 = [(r.t, r.value) for r in readings if r.parameter is Parameter.SPO2]
    start = T0 + 60 + 20 * 60
    window = [v for t, v in spo2 if start <= t < start + 60]
    assert window == [85.0, 85.0, 85.0, 85.0, 93.0] * 12
    assert all(v is not None and v >= 95 for t, v in spo2 if t < start - 30 or t >= start + 90)


def test_dashes_scenario_sends_readings_without_value_or_flag() -> None:
    readings = _scenario("spo2_dashes", 12)
    start = T0 + 60 + 10 * 60
    dashes = [r for r in readings if r.parameter in (Parameter.SPO2, Parameter.PR) and r.value is None]
    assert len(dashes) == 120
    assert all(r.flags == frozenset() and start <= r.t < start + 60 for r in dashes)


def test_failed_cuff_after_high_gives_one_high_cuff_then_failures() -> None:
    readings = _scenario("failed_cuff_after_high", 40)
    cuffs = [r for r in readings if r.parameter is Parameter.NIBP_SYS and r.t >= T0 + 60 + 20 * 60]
    dia = {r.t: r.value for r in readings if r.parameter is Parameter.NIBP_DIA}
    first, *later = cuffs
    assert (first.value, dia[first.t]) == (175.0, 112.0)
    failed = [r for r in later if r.t < T0 + 60 + 35 * 60]
    assert failed and all(r.value is None and Flag.MEASUREMENT_FAILED in r.flags for r in failed)
    assert all(r.value is not None for r in later if r.t >= T0 + 60 + 35 * 60)


def test_events_follow_the_real_infusion_start_whoever_moves_the_phases() -> None:
    # The nurse stays in the baseline for 40 min: nothing of the infusion's events happens before it starts.
    source = SimulatedSource(scenario="hypertension", seed=1, speed=math.inf, start_time=T0)
    source.open()
    readings: list[Reading] = []
    while source.now() < T0 + 40 * 60:
        if int(source.now() - T0) % 300 == 0:
            source.request_nibp()
        readings.extend(source.read(0.0))
    assert max(values(readings, Parameter.NIBP_SYS)) < 150, "no hypertension in the baseline"
    source.on_session_event("infusion_started", T0 + 40 * 60)
    while source.now() < T0 + 75 * 60:
        if int(source.now() - T0) % 300 == 0:
            source.request_nibp()
        readings.extend(source.read(0.0))
    high = [r for r in readings if r.parameter is Parameter.NIBP_SYS and r.value and r.value > 180]
    assert high and all(20 <= (r.t - T0 - 40 * 60) / 60 <= 40 for r in high)


def test_hypertensive_baseline_holds_until_the_infusion_starts() -> None:
    source = SimulatedSource(scenario="hypertensive_baseline", seed=1, speed=math.inf, start_time=T0)
    source.open()
    source.request_nibp()
    readings = run(source, 120)
    assert values(readings, Parameter.NIBP_SYS)[0] >= 165
    patient = source.patient
    patient.infusion_started(T0 + 200)
    assert patient.blood_pressure(T0 + 300)[0] < 150


def test_speed_runs_the_simulated_clock_faster_than_the_wall() -> None:
    clock = [100.0]
    source = SimulatedSource(seed=1, speed=60, start_time=T0, monotonic=lambda: clock[0])
    source.open()
    clock[0] += 2.0  # two wall seconds
    readings = source.read(0.0)
    hr = [r for r in readings if r.parameter is Parameter.HR]
    assert len(hr) == 121  # t = 0 .. 120 simulated seconds
    assert source.now() == pytest.approx(T0 + 120)


def test_soak_scenario_has_every_event_once_at_its_own_minute() -> None:
    from drivers.patient.model import SOAK_START_MIN

    patient = SimulatedPatient("soak", seed=3, start=T0)
    start = patient.infusion_start
    at = {name: start + minute * 60 for name, minute in SOAK_START_MIN.items()}
    assert patient.probe_off(at["probe_off"] + 1) and not patient.probe_off(at["probe_off"] + 120)
    assert patient.link_down(at["link_loss"] + 1) and not patient.link_down(at["link_loss"] + 120)
    assert patient.heart_rate(at["bradycardia"] + 60) < 45
    assert patient.spo2(at["desaturation"] + 30) < 88
    assert patient.blood_pressure(at["hypertension"])[0] > 185
    assert patient.cuff_fails(at["cuff_failure"] + 60) and not patient.cuff_fails(at["cuff_failure"] + 9 * 60)
    # Outside its own window each event is absent.
    quiet = start + 2 * 60
    assert not patient.probe_off(quiet) and not patient.link_down(quiet) and not patient.cuff_fails(quiet)
    assert patient.heart_rate(quiet) > 55 and patient.spo2(quiet) > 94 and patient.blood_pressure(quiet)[0] < 150
