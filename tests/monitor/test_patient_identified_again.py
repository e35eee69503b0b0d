"""A patient identified again before the writer put the first identification on file.

Found at the window (a fresh clone, the first session of a new database): the header said "Patient: not entered"
after the patient was identified, because it read the patient back from the database before the writer had
committed it. A nurse who then identifies the patient again, while the store is slow or refusing (a full disk, a
lock held by another process), queued a second new patient key for the same MRN: the writer found the first
patient on file, did not insert the second, and attaching the session to the second key failed with "FOREIGN KEY
constraint failed" at every try, so the writer held every later row of the session until it ended unfinished. A
recovery file written back after another run had put the same patient on file failed the same way."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.identifiers import PatientOnFile
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import SessionRuleError
from monitor.store import Store
from monitor.store.held_file import write_held
from monitor.store.writer import StoreWriter
from tests.conftest import leave_unfinished
from tests.monitor.writing import T0, Switch, recorded_without_a_store

MRN = "MRN-20417"
NAME = "Jana Nováková"


def _recorder(store: Store, switch: Switch | None = None) -> Recorder:
    source = SimulatedSource(seed=1, speed=math.inf, start_time=T0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30),
                                    nurse="RN")
    if switch is not None:
        recorder.writer = StoreWriter(store.path, recorder.session.id, opener=switch, retry_interval_s=0.0)
        recorder.writer.keys = store.keys  # as the recorder's own writer: a recovery file is sealed
    return recorder


def _identify(recorder: Recorder, **typed: str) -> PatientOnFile:
    done = recorder.submit("identify_patient", "RN", **typed)
    recorder.step()
    result = done.result(timeout=0)
    assert isinstance(result, PatientOnFile)
    return result


def _patients(db_path: Path) -> int:
    with Store(db_path, readonly=True) as reader:
        return int(reader.db.execute("SELECT COUNT(*) FROM patients").fetchone()[0])


def _patient_of(db_path: Path, session_id: str) -> str | None:
    with Store(db_path, readonly=True) as reader:
        return reader.session_row(session_id)["patient_id"]


def test_the_identified_patient_is_known_before_the_writer_puts_it_on_file(store: Store, db_path: Path) -> None:
    """What the window's header shows comes from the command, not from a read that may come before the commit."""
    switch = Switch()
    switch.broken = True  # nothing reaches the file
    recorder = _recorder(store, switch)
    shown = _identify(recorder, mrn=MRN, patient_name=NAME, birth_date="1979-03-14")
    assert (shown.mrn, shown.name, shown.birth_date, shown.label) == (MRN, NAME, "1979-03-14", f"{NAME} · MRN {MRN}")
    assert recorder.patient == shown
    assert _patient_of(db_path, recorder.session.id) is None
    switch.broken = False
    recorder.run(until=lambda r: True)
    assert _patient_of(db_path, recorder.session.id) == shown.key


@pytest.mark.parametrize(("store_refuses", "steps_between"), [(False, 0), (True, 0), (True, 5)])
def test_a_patient_identified_again_before_the_first_reached_the_file_is_the_same_patient(
    store: Store, db_path: Path, store_refuses: bool, steps_between: int
) -> None:
    switch = Switch()
    switch.broken = store_refuses
    recorder = _recorder(store, switch)
    first = recorder.submit("identify_patient", "RN", mrn=MRN, patient_name=NAME)
    for _ in range(steps_between):
        recorder.step()
    again = recorder.submit("identify_patient", "RN", mrn=f" {MRN} ")  # the MRN alone, as the header invites
    recorder.step()
    assert first.result(timeout=0).key == again.result(timeout=0).key
    assert again.result(timeout=0).name == NAME
    # Another person's name with that MRN is refused, on file or not.
    other = recorder.submit("identify_patient", "RN", mrn=MRN, patient_name="Tom Okafor")
    recorder.step()
    with pytest.raises(SessionRuleError, match="another name"):
        other.result(timeout=0)
    switch.broken = False
    recorder.flush()
    status = recorder.writer.status()
    assert status.ok and status.error is None, status.error
    recorder.run(until=lambda r: True)
    assert recorder.end_status == "closed", "every row was written"
    assert recorder.recovery_file is None
    assert _patients(db_path) == 1
    assert _patient_of(db_path, recorder.session.id) == first.result(timeout=0).key


def test_a_recovery_file_written_back_after_another_run_put_the_patient_on_file(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1 identifies a new patient while its disk refuses and ends with the rows in a recovery file; run 2 (the
    chair's next session, or the session resumed) identifies the same MRN and puts the patient on file under a
    key of its own. Writing run 1's file back attaches its session to the patient on file."""
    monkeypatch.setattr("monitor.recorder.CLOSE_DRAIN_S", 0.5)
    switch = Switch()
    switch.broken = True
    first = _recorder(store, switch)
    first_key = _identify(first, mrn=MRN, patient_name=NAME).key
    first.run(until=lambda r: r.session.now > T0 + 30)
    assert first.end_status == "unfinished" and first.recovery_file is not None
    second = _recorder(store)
    second_key = _identify(second, mrn=MRN, patient_name=NAME).key
    second.run(until=lambda r: True)
    assert second_key != first_key  # the first was not on file when the second came
    written = write_held(db_path, first.recovery_file)
    assert written.rows > 0
    assert _patients(db_path) == 1
    assert _patient_of(db_path, first.session.id) == second_key


def test_a_session_resumed_knows_its_patient(store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _recorder(store)
    shown = _identify(recorder, mrn=MRN, patient_name=NAME)
    recorder.run(until=lambda r: True)
    leave_unfinished(db_path, recorder.session.id)  # as if its process had died
    again = Recorder.resume_session(store, SimulatedSource(seed=1, speed=math.inf, start_time=T0 + 60),
                                    recorder.session.id)
    try:
        assert again.patient == shown and not again.patient_unread
    finally:
        again.run(until=lambda r: True)
    assert recorded_without_a_store(store, db_path, monkeypatch, 5).patient is None
    # A patient row that cannot be read is not "not identified": the window says "unknown".
    leave_unfinished(db_path, recorder.session.id)

    def unreadable(*_args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Store, "patient_row", unreadable)
    blind = Recorder.resume_session(store, SimulatedSource(seed=1, speed=math.inf, start_time=T0 + 120),
                                    recorder.session.id)
    monkeypatch.undo()
    try:
        assert blind.patient is None and blind.patient_unread
    finally:
        blind.run(until=lambda r: True)


def test_a_patient_who_cannot_be_looked_up_is_refused_with_the_reason(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk under the database failed (every read ends in EIO): the lookup that checks a known MRN against the
    name typed cannot be made. The nurse is told why and when to try again, not "disk I/O error" alone; a patient
    this run identified already needs no lookup."""
    import sqlite3

    recorder = _recorder(store)
    known = _identify(recorder, mrn="MRN-1", patient_name=NAME)

    def failed(*_args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Store, "patient_key_for_mrn", failed)
    refused = recorder.submit("identify_patient", "RN", mrn="MRN-2")
    recorder.step()
    with pytest.raises(SessionRuleError, match=r"cannot be looked up.*disk I/O error.*storage alarm has ended"):
        refused.result(timeout=0)
    assert recorder.patient == known
    assert _identify(recorder, mrn="MRN-1") == known
    monkeypatch.undo()
    recorder.run(until=lambda r: True)
    assert recorder.end_status == "closed" and _patient_of(db_path, recorder.session.id) == known.key
