"""Closing a recording keeps what the source had already received (and maybe acknowledged)."""

from __future__ import annotations

from drivers.base import Source
from drivers.core.readings import Parameter, Reading
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store

T0 = 1_800_000_000.0


class _BufferingSource(Source):
    """Delivers one reading per read; holds two more that only drain() returns after close."""

    def __init__(self) -> None:
        super().__init__("buffering", "test device")
        self.t = T0
        self.closed = False
        self.held = [Reading(T0 + 100, Parameter.NIBP_SYS, 141.0, "dev"),
                     Reading(T0 + 100, Parameter.NIBP_DIA, 88.0, "dev")]

    def read(self, timeout: float) -> list[Reading]:
        assert not self.closed
        self.t += 1
        return [Reading(self.t, Parameter.PR, 70.0, "dev")]

    def now(self) -> float:
        return self.t

    def close(self) -> None:
        self.closed = True

    def drain(self) -> list[Reading]:
        assert self.closed, "drain comes after close, so nothing new can arrive meanwhile"
        held, self.held = self.held, []
        return held


def test_readings_held_by_the_source_at_close_are_stored(store: Store) -> None:
    source = _BufferingSource()
    recorder = Recorder.new_session(store, source, driver="test", port=None, plan=SessionPlan())
    turns = iter(range(5))
    recorder.run(until=lambda r: next(turns) >= 4)
    values = [(r.parameter, r.value) for r in store.readings(recorder.session.id)]
    assert values.count((Parameter.PR, 70.0)) == 5
    # Each once: what the source held at close is stored, and not twice.
    assert values.count((Parameter.NIBP_SYS, 141.0)) == 1, values
    assert values.count((Parameter.NIBP_DIA, 88.0)) == 1, values
    assert recorder.end_status == "closed"


def test_patient_identified_at_the_chair_is_attached_without_identifiers_on_the_timeline(store: Store) -> None:
    import json

    import pytest

    from monitor.session import EventKind

    recorder = Recorder.new_session(store, _BufferingSource(), driver="test", port=None, plan=SessionPlan())
    empty = recorder.submit("identify_patient", user="RN", mrn="  ")
    done = recorder.submit(
        "identify_patient", user="RN", mrn="MRN-991", patient_name="Ada Example", birth_date="1971-05-06"
    )
    recorder.step()
    with pytest.raises(ValueError, match="MRN is needed"):
        empty.result(timeout=1)
    patient_id = done.result(timeout=1).key
    recorder.run(until=lambda r: True)
    row = store.session_row(recorder.session.id)
    assert row["patient_id"] == patient_id
    assert store.patient_row(patient_id)["mrn"] == "MRN-991"
    [event] = [e for e in store.events(recorder.session.id) if e.kind is EventKind.PATIENT_IDENTIFIED]
    assert event.user == "RN"
    timeline_text = json.dumps([dict(e.detail) for e in store.events(recorder.session.id)])
    audit_text = json.dumps(store.audit_log(recorder.session.id))
    for identifier in ("MRN-991", "Ada", "1971-05-06"):
        assert identifier not in timeline_text
        assert identifier not in audit_text


def test_a_returning_patient_identified_at_the_chair_is_found_again(store: Store) -> None:
    """The MRN is stored encrypted: the patient of an earlier session is found through its keyed hash."""
    known = store.create_patient("MRN-1234", "Ada Example", "1971-05-06")
    recorder = Recorder.new_session(store, _BufferingSource(), driver="test", port=None, plan=SessionPlan())
    done = recorder.submit("identify_patient", user="RN", mrn="MRN-1234")
    recorder.step()
    assert done.result(timeout=1).key == known
    recorder.run(until=lambda r: True)
    assert recorder.end_status == "closed", "every row was written (no patient key the database lacks)"
    assert store.session_row(recorder.session.id)["patient_id"] == known
    assert store.db.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 1


def test_readings_the_old_device_held_at_a_device_change_are_stored_once(store: Store) -> None:
    """A device put away for another keeps what it had received but not handed over (an HL7 message it
    acknowledged, bytes in its serial buffer), as at close: stored once, not lost and not twice."""
    old = _BufferingSource()
    recorder = Recorder.new_session(store, old, driver="test", port=None, plan=SessionPlan())
    recorder.step()
    new = _BufferingSource()
    new.t = old.t
    new.held = []
    changed = recorder.submit("change_source", user="RN", source=new, driver="test")
    turns = iter(range(4))
    recorder.run(until=lambda r: next(turns) >= 3)
    assert changed.result(timeout=1)
    assert old.closed
    values = [(r.parameter, r.value) for r in store.readings(recorder.session.id)]
    assert values.count((Parameter.NIBP_SYS, 141.0)) == 1, values
    assert values.count((Parameter.NIBP_DIA, 88.0)) == 1, values
