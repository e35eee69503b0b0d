"""Streamed exports give, byte for byte, what the whole-record writers gave before streaming.

Each format is exported through ``export_file`` (readings streamed from the store) and compared
with :mod:`tests.monitor.records.export_oracle` (the earlier writers, every reading in memory),
for a recorded session and for a hand-made one full of awkward cases (signed off, with addenda), under every
export option.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from monitor.exports import data, export_file
from monitor.exports.data import ExportOptions, SessionRecord, StoredReadings, load
from monitor.exports.hl7_export import observation_sets, ordered_observation_sets
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Store
from tests.monitor.records import export_oracle
from tests.monitor.records.sessions import RecordedSession

ORACLES: dict[str, Callable[[SessionRecord, IO[str]], None]] = {
    "csv": export_oracle.csv_write,
    "json": export_oracle.json_write,
    "hl7": export_oracle.hl7_write,
    "fhir": export_oracle.fhir_write,
}
OPTIONS = {
    "plain": ExportOptions(),
    "deidentified": ExportOptions(deidentify=True),
    "relative": ExportOptions(relative_time=True, keep_staff=True),
    "every-value": ExportOptions(resample_s=0),
    "odd-span": ExportOptions(resample_s=7.5, deidentify=True, keep_staff=True),
}
T0 = 1_790_000_000.25
HR, PR, SPO2 = Parameter.HR, Parameter.PR, Parameter.SPO2
SYS, DIA, MEAN = Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN


def _awkward_readings() -> list[Reading]:
    """Seconds of numerics with gaps, flags and missing values; cuffs whole, partial, split and repeated."""
    rng = random.Random(16)
    out: list[Reading] = []
    for second in range(0, 1500):
        if 400 <= second < 460:  # a gap in the numerics
            continue
        t = T0 + second
        flags = frozenset({Flag.ARTIFACT}) if second % 97 == 0 else frozenset()
        out.append(Reading(t, HR, float(rng.randint(55, 130)), "mon SN 77X2", flags))
        out.append(Reading(t, SPO2, None if second % 53 == 0 else float(rng.randint(85, 100)), "mon SN 77X2"))
        if second % 3 == 0:
            out.append(Reading(t, PR, float(rng.randint(55, 130)) + 0.5, "oxi"))
    cuffs = [
        (120.0, [(0.0, SYS, 131.0), (0.0, DIA, 82.0), (0.0, MEAN, 98.0)]),  # at the time of numerics
        (300.5, [(0.0, SYS, 151.0), (1.5, DIA, 91.0), (1.9, MEAN, 111.0)]),  # spread over 1.9 s
        (430.0, [(0.0, SYS, 170.0)]),  # only the systolic, in the numerics' gap
        (700.0, [(0.0, SYS, 140.0), (0.5, SYS, 141.0), (0.6, DIA, 88.0)]),  # a repeated value: two measurements
        (900.0, [(0.0, SYS, 125.0), (2.5, DIA, 80.0)]),  # too far apart: two measurements
        (1100.0, [(0.0, SYS, 0.0), (0.0, DIA, 0.0)]),  # a failed cuff, flagged
    ]
    for at, values in cuffs:
        for offset, parameter, value in values:
            flags = frozenset({Flag.MEASUREMENT_FAILED}) if at == 1100.0 else frozenset()
            out.append(Reading(T0 + at + offset, parameter, value, "cuff", flags))
    return out


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    """A stored session of awkward readings, written in shuffled batches (the store orders them)."""
    path = tmp_path_factory.mktemp("awkward") / "monitor.db"
    with Store(path) as store:
        patient = store.create_patient("MRN-7|^&~", "Zoë O'Brien-Ødegård", "1961-02-28")
        session_id = store.create_session(started_at=T0, patient_id=patient, driver="simulated", port=None,
                                          plan="baseline:5,infusion:10,recovery:10")
        readings = _awkward_readings()
        random.Random(3).shuffle(readings)
        events = [
            SessionEvent(T0, EventKind.BASELINE_STARTED, Phase.BASELINE, "RN Ana", {}),
            SessionEvent(T0 + 300, EventKind.INFUSION_STARTED, Phase.INFUSION, "RN Ana", {}),
            SessionEvent(T0 + 301, EventKind.NOTE, Phase.INFUSION, "RN Ana", {"text": "calm | talking ^ & ~"}),
            SessionEvent(T0 + 900, EventKind.RECOVERY_STARTED, Phase.RECOVERY, "RN Ana", {}),
        ]
        for start in range(0, len(readings), 997):
            store.write_batch(session_id, readings=readings[start:start + 997],
                              events=events if start == 0 else ())
        store.end_session(session_id, "complete", T0 + 1500)
        # Reviewed and signed off: the exports end with the review, after the streamed readings.
        store.write_batch(session_id, events=[
            SessionEvent(T0 + 2000, EventKind.ADDENDUM, Phase.COMPLETE, "Dr Ørsted", {"text": "cuff | re-sited\nok"}),
            SessionEvent(T0 + 2100, EventKind.SIGNED_OFF, Phase.COMPLETE, "Dr Ørsted",
                         {"role": "physician", "comment": "Reviewed ^ & ~"}),
            SessionEvent(T0 + 2200, EventKind.ADDENDUM, Phase.COMPLETE, "RN Ana",
                         {"text": "late note", "after_sign_off": True}),
        ])
    return RecordedSession(path, session_id)



@pytest.mark.parametrize("options", list(OPTIONS), ids=list(OPTIONS))
@pytest.mark.parametrize("fmt", list(ORACLES))
@pytest.mark.parametrize("which", ["recorded", "awkward"])
def test_a_streamed_export_is_byte_identical_to_the_whole_record_one(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, options: str,
    which: str,
) -> None:
    monkeypatch.setattr(data, "STREAM_BLOCK", 500)
    session: RecordedSession = request.getfixturevalue(which)
    chosen = OPTIONS[options]
    with Store(session.path) as store:
        record = load(store, session.session_id, options=chosen)
        assert isinstance(record.readings, tuple)
        expected = io.StringIO(newline="")
        ORACLES[fmt](record, expected)
        target = tmp_path / f"out.{fmt}"
        blocks: list[int] = []
        export_file(store, session.session_id, fmt, target, chosen, on_block=blocks.append)
    written = target.read_bytes().decode("utf-8")
    assert written == expected.getvalue()
    count = len(record.readings)
    assert count > 3000 and blocks == list(range(500, count + 1, 500))  # read in blocks, reporting as it went


def test_streamed_readings_are_read_afresh_and_transformed_like_the_loaded_ones(awkward: RecordedSession) -> None:
    with Store(awkward.path) as store:
        for options in OPTIONS.values():
            whole = load(store, awkward.session_id, options=options)
            streamed = load(store, awkward.session_id, options=options, stream=True)
            assert isinstance(streamed.readings, StoredReadings)
            assert list(streamed.readings) == list(whole.readings)
            assert list(streamed.readings) == list(whole.readings)  # a second pass reads them again
            assert (streamed.events, streamed.alarms, streamed.session) == (whole.events, whole.alarms, whole.session)
        only = load(store, awkward.session_id, readings_of=(SYS, DIA), stream=True)
        assert {r.parameter for r in only.readings} == {SYS, DIA}


@pytest.mark.parametrize("seed", range(40))
def test_ordered_observation_sets_match_the_whole_list_grouping(seed: int) -> None:
    """Random time-ordered readings (ties, cuffs close together, flags): the same sets in the same order."""
    rng = random.Random(seed)
    readings: list[Reading] = []
    t = 1000.0
    for _ in range(rng.randint(0, 400)):
        t += rng.choice([0.0, 0.0, 0.25, 0.5, 1.0, 1.0, 2.0, 2.01, 3.0])
        parameter = rng.choice([HR, PR, SPO2, SYS, DIA, MEAN, Parameter.RR, Parameter.PLETH])
        value = None if rng.random() < 0.05 else float(rng.randint(40, 180))
        flags = frozenset({Flag.ARTIFACT}) if rng.random() < 0.05 else frozenset()
        readings.append(Reading(t, parameter, value, "x", flags))
    assert list(ordered_observation_sets(iter(readings))) == list(observation_sets(readings))


def test_ordered_observation_sets_hold_only_the_last_seconds() -> None:
    """A day of seconds goes through while only a handful of sets wait at any moment."""
    held: list[int] = []

    def day() -> Iterator[Reading]:
        for second in range(86_400):
            t = 1000.0 + second
            yield Reading(t, HR, 70.0, "x")
            yield Reading(t, SPO2, 97.0, "x")
            if second % 300 == 0:
                yield Reading(t + 0.5, SYS, 120.0, "x")
                yield Reading(t + 1.0, DIA, 80.0, "x")

    produced = 0
    consumed = 0

    def counted() -> Iterator[Reading]:
        nonlocal produced
        for r in day():
            produced += 1
            yield r

    for _obs in ordered_observation_sets(counted()):
        consumed += 1
        held.append(produced - consumed * 2)
    assert consumed == 86_400 + 288
    assert max(held) < 20


