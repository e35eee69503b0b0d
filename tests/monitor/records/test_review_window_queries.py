"""Queries behind the review window: whole-session arrays, the recorded discharge scoring, addenda,
the faster running median, and closing an unfinished session (shared with ``infusion-monitor close``)."""

from __future__ import annotations

import random
import socket
import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from drivers.core.readings import Flag, Parameter, Reading
from monitor import review, review_arrays
from monitor.app.errors import AppError
from monitor.app.sessions import close_unfinished
from monitor.cli import build_parser
from monitor.exports.data import load
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Store
from tests.monitor.records.sessions import RecordedSession, record_session


def test_trend_arrays_hold_every_stored_reading_with_untrusted_values_set_apart(
    recorded: RecordedSession, recorded_copy: Path
) -> None:
    with Store(recorded_copy) as store:
        # A flagged value and a missing one, as a device would send them.
        t = max(r.t for r in store.readings(recorded.session_id)) + 1
        store.write_batch(recorded.session_id, readings=[
            Reading(t, Parameter.SPO2, 71.0, "x", frozenset({Flag.ARTIFACT})),
            Reading(t + 1, Parameter.SPO2, None, "x", frozenset({Flag.SENSOR_OFF})),
            Reading(t + 2, Parameter.SPO2, 97.0, "x", frozenset({Flag.LOW_PERFUSION})),
        ])
        readings = list(store.readings(recorded.session_id))
        arrays = review_arrays.trend_arrays(store, recorded.session_id)
    for parameter in {r.parameter for r in readings}:
        mine = [r for r in readings if r.parameter is parameter]
        a = arrays[parameter]
        assert len(a) == len(mine)
        assert a.t.tolist() == [r.t for r in mine]
        expected = [r.value if r.reliable else np.nan for r in mine]
        assert np.array_equal(a.value, np.array(expected, dtype=float), equal_nan=True)
        assert a.doubtful.tolist() == [r.value is not None and not r.reliable for r in mine]
    spo2 = arrays[Parameter.SPO2]
    assert np.isnan(spo2.value[-3]) and spo2.doubtful[-3] and spo2.raw[-3] == 71.0
    assert np.isnan(spo2.value[-2]) and not spo2.doubtful[-2]
    assert spo2.value[-1] == 97.0  # low perfusion is a warning, not a reason to distrust the value


def test_waveform_arrays_equal_the_stored_samples(tmp_path: Path) -> None:
    session = record_session(tmp_path / "monitor.db", plan="baseline:2,infusion:3,recovery:1", pleth=True)
    with Store(session.path, readonly=True) as store:
        times, values = store.waveform(session.session_id)
        t, v = review_arrays.waveform_arrays(store, session.session_id)
        empty_t, empty_v = review_arrays.waveform_arrays(store, "no-such-session")
    finite = np.isfinite(v)
    assert finite.sum() == len(values) > 6 * 60 * 70
    assert np.allclose(t[finite], times)
    assert np.array_equal(v[finite], np.array(values))
    assert np.all(np.diff(t) > 0)
    assert empty_t.size == empty_v.size == 0


def test_a_gap_between_stored_waveform_blocks_is_kept_as_a_break(tmp_path: Path) -> None:
    with Store(tmp_path / "monitor.db") as store:
        session_id = store.create_session(started_at=0.0, patient_id=None, driver="x", port=None, plan="")
        block = [Reading(100.0 + i / 75, Parameter.PLETH, float(i), "x") for i in range(75)]
        later = [Reading(200.0 + i / 75, Parameter.PLETH, float(i), "x") for i in range(75)]
        store.write_batch(session_id, readings=block)
        store.write_batch(session_id, readings=later)
        t, v = review_arrays.waveform_arrays(store, session_id)
    assert t.size == 151
    assert np.isnan(v[75]) and 100.99 < t[75] < 101.1
    assert np.isfinite(v).sum() == 150


def test_running_median_matches_a_median_of_each_window() -> None:
    rng = random.Random(7)
    for _ in range(50):
        t = 0.0
        points = []
        for _ in range(rng.randint(1, 200)):
            t += rng.choice([0.5, 1.0, 1.0, 3.0, 40.0])
            points.append((t, float(rng.randint(40, 140))))
        window = rng.choice([5.0, 30.0, 60.0])
        naive = [
            (ti, float(statistics.median(v for tj, v in points[: i + 1] if tj >= ti - window)))
            for i, (ti, _v) in enumerate(points)
        ]
        assert review._running_median(points, window) == naive


def test_discharge_scoring_is_the_last_recorded_one(
    recorded: RecordedSession, store_of: Callable[[RecordedSession], Store]
) -> None:
    record = load(store_of(recorded), recorded.session_id)
    assert review.discharge_scoring(record) is None  # this session was never scored
    first = {"aldrete": {"name": "Modified Aldrete", "total": 8, "maximum": 10}, "passed": False,
             "reasons": ["Modified Aldrete 8/10, below 9"]}
    second = {"aldrete": {"name": "Modified Aldrete", "total": 10, "maximum": 10}, "passed": True, "reasons": []}
    events = (
        *record.events,
        SessionEvent(3000.0, EventKind.DISCHARGE_SCORED, Phase.RECOVERY, "RN", first),
        SessionEvent(3500.0, EventKind.DISCHARGE_SCORED, Phase.RECOVERY, "RN2", second),
    )
    scoring = review.discharge_scoring(replace(record, events=events))
    assert scoring is not None
    assert (scoring.t, scoring.user, scoring.passed, scoring.reasons) == (3500.0, "RN2", True, [])
    assert scoring.score("aldrete") == second["aldrete"]
    assert scoring.score("padss") is None


def test_an_addendum_is_signed_dated_audited_and_refused_where_it_does_not_belong(
    recorded: RecordedSession, recorded_copy: Path
) -> None:
    with Store(recorded_copy) as store:
        with pytest.raises(review.AddendumRefused, match="needs some text"):
            review.add_addendum(store, recorded.session_id, "   ", user="MD")
        with pytest.raises(review.AddendumRefused, match="signed"):
            review.add_addendum(store, recorded.session_id, "text", user=" ")
        event = review.add_addendum(store, recorded.session_id, " Seen, no action. ", user="MD", role="physician",
                                    refers_to_at=1_718_000_400.0, now=1_718_100_000.0)
        assert event.kind is EventKind.ADDENDUM and event.t == 1_718_100_000.0
        stored = [e for e in store.events(recorded.session_id) if e.kind is EventKind.ADDENDUM]
        assert [(e.t, e.user, dict(e.detail)) for e in stored] == [
            (1_718_100_000.0, "MD", {"text": "Seen, no action.", "role": "physician", "refers_to_at": 1_718_000_400.0})
        ]
        audit = store.audit_log(recorded.session_id)[-1]
        assert (audit["action"], audit["user"]) == ("addendum", "MD")
        assert store.session_row(recorded.session_id)["status"] == "complete"

        running = store.create_session(started_at=0.0, patient_id=None, driver="x", port=None, plan="")
        with pytest.raises(review.AddendumRefused, match="still being recorded"):
            review.add_addendum(store, running, "text", user="MD")
        store.db.execute("UPDATE sessions SET owner_pid = 0, owner_host = ? WHERE id = ?",
                         [socket.gethostname(), running])
        with pytest.raises(review.AddendumRefused, match="unfinished"):
            review.add_addendum(store, running, "text", user="MD")
        # Closed after a crash, the record is over: it takes addenda.
        close_unfinished(store, running, "RN")
        review.add_addendum(store, running, "Closed after the power cut", user="MD")


def test_close_unfinished_refuses_what_is_not_unfinished_and_unknown_sessions(
    recorded: RecordedSession, recorded_copy: Path
) -> None:
    with Store(recorded_copy) as store:
        with pytest.raises(AppError, match="is complete"):
            close_unfinished(store, recorded.session_id, "RN")
        with pytest.raises(AppError, match="no session"):
            close_unfinished(store, "nonexistent", "RN")


def test_review_command_line_takes_an_optional_session_and_is_a_registered_front_end() -> None:
    from importlib.metadata import entry_points

    args = build_parser().parse_args(["review", "--db", "x.db"])
    assert (args.command, args.session, args.db, args.user) == ("review", None, "x.db", None)
    args = build_parser().parse_args(["review", "latest", "--user", "MD"])
    assert (args.session, args.user) == ("latest", "MD")
    with pytest.raises(SystemExit):  # the role is granted to the account, never given on the command line
        build_parser().parse_args(["review", "latest", "--user", "MD", "--role", "admin"])
    names = {ep.name: ep.value for ep in entry_points(group="infusion_monitor.frontends")}
    assert names["review"] == "ui.review_app:run_review"
