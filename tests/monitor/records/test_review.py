"""Review queries on recorded sessions and on hand-built timelines."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from monitor import review
from monitor.alarms.model import Priority
from monitor.exports.data import SessionRecord, load
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Store
from tests.monitor.records.sessions import MRN, RecordedSession, add_alarms, alarm_record, record_session
from tests.monitor.records.timeline import BASELINE, synthetic_record


def test_phase_statistics_match_the_stored_rows(recorded: RecordedSession, store_of: Callable[..., Store]) -> None:
    store = store_of(recorded)
    record = load(store, recorded.session_id)
    stats = {(s.phase, s.parameter): s for s in review.phase_statistics(record)}
    assert len(stats) == 3 * 6
    starts = {e.kind: e.t for e in record.events}
    spans = {
        Phase.BASELINE: (starts[EventKind.BASELINE_STARTED], starts[EventKind.INFUSION_STARTED]),
        Phase.INFUSION: (starts[EventKind.INFUSION_STARTED], starts[EventKind.RECOVERY_STARTED]),
        Phase.RECOVERY: (starts[EventKind.RECOVERY_STARTED], starts[EventKind.SESSION_COMPLETED]),
    }
    for phase, (begin, end) in spans.items():
        for parameter in (Parameter.HR, Parameter.SPO2, Parameter.NIBP_SYS):
            values = [
                v
                for (v,) in store.db.execute(
                    "SELECT value FROM readings WHERE session_id = ? AND parameter = ? AND t >= ? AND t < ? "
                    "AND value IS NOT NULL AND status = ''",
                    [recorded.session_id, parameter.value, begin, end],
                )
            ]
            s = stats[(phase, parameter)]
            assert s.count == len(values) > 0
            assert s.minimum == min(values)
            assert s.maximum == max(values)
            assert s.mean == pytest.approx(statistics.fmean(values), abs=0.05)
            assert s.median == statistics.median(values)


def test_unreliable_values_stay_out_of_statistics() -> None:
    readings = [Reading(400.0 + i, Parameter.SPO2, 97.0, "x") for i in range(10)]
    readings.append(Reading(420.0, Parameter.SPO2, 40.0, "x", frozenset({Flag.ARTIFACT})))
    readings.append(Reading(421.0, Parameter.SPO2, None, "x", frozenset({Flag.SENSOR_OFF})))
    record = synthetic_record(readings)
    stats = {(s.phase, s.parameter): s for s in review.phase_statistics(record)}
    infusion = stats[(Phase.INFUSION, Parameter.SPO2)]
    assert infusion.count == 10
    assert infusion.minimum == 97.0
    assert stats[(Phase.RECOVERY, Parameter.HR)].count == 0
    assert stats[(Phase.RECOVERY, Parameter.HR)].mean is None


def test_nibp_table_lists_every_cuff_measurement_with_its_phase(
    recorded: RecordedSession, store_of: Callable[..., Store]
) -> None:
    store = store_of(recorded)
    record = load(store, recorded.session_id)
    table = review.nibp_table(record)
    stored = list(
        store.db.execute(
            "SELECT t, value FROM readings WHERE session_id = ? AND parameter = 'nibp_sys' ORDER BY t",
            [recorded.session_id],
        )
    )
    assert [(m.t, m.systolic) for m in table] == stored
    assert {m.phase for m in table} == {Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY}
    for m in table:
        assert m.diastolic is not None
        assert m.mean is not None
        assert m.diastolic < m.mean < m.systolic


def test_failed_cuff_measurement_is_listed_without_values() -> None:
    failed = frozenset({Flag.MEASUREMENT_FAILED})
    readings = [
        Reading(700.0, Parameter.NIBP_SYS, 130.0, "x"),
        Reading(700.0, Parameter.NIBP_DIA, 80.0, "x"),
        Reading(700.0, Parameter.NIBP_MEAN, 97.0, "x"),
        Reading(1000.0, Parameter.NIBP_SYS, None, "x", failed),
        Reading(1000.5, Parameter.NIBP_DIA, None, "x", failed),
    ]
    table = review.nibp_table(synthetic_record(readings))
    assert len(table) == 2
    assert table[0].reliable
    assert table[0].systolic == 130.0
    assert not table[1].reliable
    assert table[1].systolic is None
    assert table[1].status == "measurement_failed"


def test_return_to_baseline_counts_from_infusion_stop_to_the_last_entry_into_the_band() -> None:
    # Baseline 120/80, HR 70; infusion stops at 1800 s. Systolic stays high until the cuff at 2700 s.
    readings = []
    for t, sys_v, dia_v in (
        (1500, 160, 90),
        (1900, 150, 95),
        (2200, 140, 100),
        (2700, 130, 85),
        (3000, 125, 82),
    ):
        readings += [
            Reading(float(t), Parameter.NIBP_SYS, float(sys_v), "x"),
            Reading(float(t), Parameter.NIBP_DIA, float(dia_v), "x"),
        ]
    # Heart rate 100 (43 % above) until 2000 s, then 72.
    readings += [Reading(float(t), Parameter.HR, 100.0 if t < 2000 else 72.0, "x") for t in range(1700, 3000)]
    result = {r.parameter: r for r in review.return_to_baseline(synthetic_record(readings))}
    sys_r = result[Parameter.NIBP_SYS]
    assert sys_r.band == (96.0, 144.0)
    assert sys_r.seconds == 2200 - 1800  # 140 at 2200 s is the first value of the final stretch in the band
    dia_r = result[Parameter.NIBP_DIA]
    assert dia_r.seconds == 2700 - 1800  # 100 at 2200 s is 25 % above 80
    hr = result[Parameter.HR]
    # A 30 s running median: the median drops below 84 once more than half of the window is 72.
    assert hr.seconds is not None
    assert 200 <= hr.seconds <= 216
    assert hr.last_value == 72.0


def test_value_that_never_left_the_band_returns_at_once_and_one_still_out_is_not_back() -> None:
    readings = [Reading(float(t), Parameter.HR, 71.0, "x") for t in range(1700, 2500)]
    readings += [
        Reading(1750.0, Parameter.NIBP_SYS, 122.0, "x"),
        Reading(2400.0, Parameter.NIBP_SYS, 190.0, "x"),
    ]
    result = {r.parameter: r for r in review.return_to_baseline(synthetic_record(readings))}
    assert result[Parameter.HR].seconds == 0.0
    assert result[Parameter.NIBP_SYS].returned is False
    assert result[Parameter.NIBP_SYS].last_value == 190.0
    assert result[Parameter.NIBP_DIA].last_value is None


def test_baseline_against_end_of_recovery() -> None:
    readings = [Reading(float(t), Parameter.HR, 80.0 if t > 3540 else 60.0, "x") for t in range(3000, 3600)]
    readings += [
        Reading(3300.0, Parameter.NIBP_SYS, 140.0, "x"),
        Reading(3500.0, Parameter.NIBP_SYS, 132.0, "x"),
    ]
    rows = {c.parameter: c for c in review.baseline_vs_end_of_recovery(synthetic_record(readings))}
    hr = rows[Parameter.HR]
    assert hr.baseline == BASELINE["heart_rate"]
    assert hr.end_of_recovery == 80.0  # median of the last minute (59 of 61 values are 80)
    systolic = rows[Parameter.NIBP_SYS]
    assert systolic.end_of_recovery == 132.0
    assert systolic.change == 12.0
    assert systolic.change_percent == 10.0
    assert rows[Parameter.SPO2].end_of_recovery is None


def test_search_by_date_mrn_and_highest_alarm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = record_session(tmp_path / "m.db", plan="baseline:1,infusion:1,recovery:1")
    second = record_session(tmp_path / "m.db", plan="baseline:1,infusion:1,recovery:1", with_patient=False)
    with Store(tmp_path / "m.db") as store:
        store.db.execute("UPDATE sessions SET started_at = started_at + 86400 WHERE id = ?", [second.session_id])
    t = 1_718_000_100.0
    add_alarms(
        tmp_path / "m.db",
        first.session_id,
        [
            alarm_record("h1", "spo2_low", "spo2", "high", t, t + 5, 90, 85, "SpO2 85 < 90"),
            alarm_record("m1", "hr_high", "hr", "medium", t + 10, t + 20, 120, 125, "HR 125 > 120"),
            alarm_record("m2", "hr_high", "hr", "medium", t + 30, t + 40, 120, 126, "HR 126 > 120"),
        ],
    )
    add_alarms(
        tmp_path / "m.db",
        second.session_id,
        [
            alarm_record("l1", "nibp_sys_high", "nibp_sys", "low", t, t + 1, 165, 166, "NIBP 166"),
        ],
    )
    with Store(tmp_path / "m.db") as store:
        everything = review.search_sessions(store)
        assert [f.summary.id for f in everything] == [second.session_id, first.session_id]
        by_id = {f.summary.id: f for f in everything}
        assert by_id[first.session_id].alarm_counts == {Priority.LOW: 0, Priority.MEDIUM: 2, Priority.HIGH: 1}
        assert by_id[first.session_id].highest_alarm is Priority.HIGH
        assert by_id[second.session_id].highest_alarm is Priority.LOW
        assert [f.summary.id for f in review.search_sessions(store, mrn_contains="mrn-4488")] == [first.session_id]
        assert review.search_sessions(store, mrn_contains="nobody") == []
        day2 = review.search_sessions(store, started_from=1_718_000_000.0 + 3600)
        assert [f.summary.id for f in day2] == [second.session_id]
        day1 = review.search_sessions(store, started_before=1_718_000_000.0 + 3600)
        assert [f.summary.id for f in day1] == [first.session_id]
        assert [f.summary.id for f in review.search_sessions(store, highest_alarm=Priority.LOW)] == [second.session_id]
        assert [f.summary.id for f in review.search_sessions(store, min_alarm=Priority.MEDIUM)] == [first.session_id]
        assert by_id[first.session_id].summary.patient == MRN


def test_synthetic_record_is_consistent() -> None:
    record: SessionRecord = synthetic_record([])
    assert json.loads(record.session["baseline"])["nibp_sys"] == 120.0
    assert review.infusion_stopped_at(record) == 1800.0
    assert isinstance(record.events[0], SessionEvent)
