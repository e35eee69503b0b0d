"""One MRN identified at two chairs as two different people: the server tells them apart, the chair still holding
the patient is told (a technical alarm, seen at the station too), the course across chairs warns, and
`server identities` lists it; the same person typed differently (case, accents' encoding) is no conflict."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.cli import main
from monitor.course import load_course_by_mrn
from monitor.course_export import story
from monitor.plan import parse_plan
from monitor.recorder import Recorder
from monitor.replication import server_store, server_writes
from monitor.replication.chair import start_replication
from monitor.replication.replicator import Replicator
from monitor.session import EventKind
from monitor.station import StationModel, report_from_row
from monitor.store import Store
from tests.conftest import Clinic, record_simulated
from tests.monitor.replication.shipping import drain, publish_before_schema_8

T0 = 1_790_000_000.0
#: Chair 2 identifies the patient at 4711 a week after Chair 1 did, with another birth date.
FIRST = {"name": "Ann Lee", "birth_date": "1970-03-01"}
OTHER_BIRTH = "1981-11-30"


def _identified(db: Path, mrn: str, name: str | None, birth_date: str | None, start: float, seed: int) -> str:
    """A whole session recorded at a chair for the patient ``mrn`` as that chair typed them; its id."""
    session_id = record_simulated(db, seed=seed, start_time=start)
    with Store(db) as store:
        store.assign_patient(session_id, store.create_patient(mrn, name, birth_date))
    return session_id


def _shipped(db: Path, url: str, chair: str) -> None:
    """Everything of ``db`` on the server, the chair named ``chair`` at the station."""
    replicator = Replicator(db, url, chair_name=chair)
    replicator.start()
    try:
        drain(replicator)
    finally:
        replicator.stop()


def _two_chairs(clinic: Clinic, tmp_path: Path, second: dict[str, str | None]) -> tuple[str, str, str]:
    """MRN 4711 at Chair 1 as :data:`FIRST`, a week later at Chair 2 as ``second``; both shipped. The two sessions
    and Chair 2's login."""
    first_id = _identified(tmp_path / "a.db", "4711", FIRST["name"], FIRST["birth_date"], T0, 1)
    second_id = _identified(tmp_path / "b.db", "4711", second["name"], second["birth_date"], T0 + 7 * 86_400, 2)
    chair_2 = clinic.role("chair", "chair_2")
    _shipped(tmp_path / "a.db", clinic.role("chair", "chair_1"), "Chair 1")
    _shipped(tmp_path / "b.db", chair_2, "Chair 2")
    return first_id, second_id, chair_2


def _until(what: Callable[[], Any], turn: Callable[[], None] = lambda: time.sleep(0.05),
           timeout: float = 30.0) -> Any:
    """``what()`` once it is true, calling ``turn`` in between; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        turn()
    raise AssertionError("not seen in time")


def _identities(reader: str) -> tuple[int, list[str]]:
    """What ``server identities --url`` prints, and its exit code."""
    out = io.StringIO()
    code = main(["server", "identities", "--url", reader], out=out)
    return code, out.getvalue().splitlines()


def test_one_mrn_with_two_birth_dates_is_found_and_the_course_warns(clinic: Clinic, tmp_path: Path) -> None:
    first, second, _ = _two_chairs(clinic, tmp_path, {"name": "ann lee", "birth_date": OTHER_BIRTH})
    reader = clinic.role("reader")
    with server_store.ServerStore(reader) as store:
        course = load_course_by_mrn(store, "4711")
        [conflict] = store.identity_conflicts()
        assert store.identity_conflicts("4711") == [conflict] and store.identity_conflicts("4712") == []
    assert conflict.mrn == "4711" and conflict.fields == ("birth date",)
    assert [[(r.chair_name, r.birth_date, r.sessions) for r in version] for version in conflict.versions] == [
        [("Chair 1", FIRST["birth_date"], (first,))], [("Chair 2", OTHER_BIRTH, (second,))]]
    # The course still lists both chairs' sessions, and says they may be two people.
    assert [row.session_id for row in course.rows] == [first, second]
    [warning] = course.warnings
    assert "IDENTITY CONFLICT" in warning and "different birth dates" in warning
    assert f"Chair 1 (session {first[:8]})" in warning and f"Chair 2 (session {second[:8]})" in warning
    assert FIRST["birth_date"] not in warning and OTHER_BIRTH not in warning  # a de-identified course keeps it
    assert warning in [getattr(part, "text", "") for part in story(course, deidentify=True)]
    # What `course --server` writes, de-identified too.
    out = tmp_path / "course.json"
    assert main(["course", "4711", "--server", reader, "--db", str(tmp_path / "office.db"), "--out", str(out),
                 "--deidentify"]) == 0
    assert json.loads(out.read_text())["warnings"] == [warning]
    # What the clinic's IT lists.
    code, lines = _identities(reader)
    assert code == 1
    assert lines[0] == "MRN 4711: birth date differs"
    assert lines[1] == f"  version 1: born {FIRST['birth_date']}: Chair 1 (session {first[:8]})"
    assert lines[2] == f"  version 2: born {OTHER_BIRTH}: Chair 2 (session {second[:8]})"


def test_the_same_person_typed_another_way_is_no_conflict(clinic: Clinic, tmp_path: Path) -> None:
    """Case, spacing and a combining diaeresis typed for a precomposed one are the same name, as at the chair; a
    birth date one chair did not take is no conflict either."""
    _identified(tmp_path / "a.db", "4711", "Zoë Lee", "1970-03-01", T0, 1)
    second = _identified(tmp_path / "b.db", "4711", "ZOE\u0308  LEE", None, T0 + 86_400, 2)
    chair_2 = clinic.role("chair", "chair_2")
    _shipped(tmp_path / "a.db", clinic.role("chair", "chair_1"), "Chair 1")
    _shipped(tmp_path / "b.db", chair_2, "Chair 2")
    reader = clinic.role("reader")
    with server_store.ServerStore(reader) as store:
        assert store.identity_conflicts() == []
        assert load_course_by_mrn(store, "4711").warnings == ()
    with psycopg.connect(chair_2, autocommit=True) as conn:  # the chair's own question
        assert server_writes.identity_held_elsewhere(conn, second) == []
    assert _identities(reader) == (0, ["no MRN is held with different names or birth dates"])


def test_a_chair_may_ask_only_about_its_own_sessions(clinic: Clinic, tmp_path: Path) -> None:
    """The question names no identifiers, and a chair's login cannot ask it about another chair's session."""
    first, second, chair_2 = _two_chairs(clinic, tmp_path, {"name": "Ann Lee", "birth_date": OTHER_BIRTH})
    with psycopg.connect(clinic.role("chair", "chair_3"), autocommit=True) as conn:
        assert server_writes.identity_held_elsewhere(conn, second) == []
    with psycopg.connect(chair_2, autocommit=True) as conn:
        assert server_writes.identity_held_elsewhere(conn, second) == [
            server_writes.HeldElsewhere("birth date", "chair_1", "Chair 1", (first,))]


def test_the_chair_holding_the_patient_is_told_and_the_station_shows_it(clinic: Clinic, tmp_path: Path) -> None:
    """Chair 2 identifies MRN 4711 with another birth date while Chair 1's record of it is on the server: Chair 2's
    replicator asks after shipping the patient, the recorder raises a medium technical alarm naming the field and
    Chair 1 (not the other birth date), the timeline says so, and the station's tile carries it. Chair 1, whose
    patient was identified first, is told at its next look."""
    first = _identified(tmp_path / "a.db", "4711", FIRST["name"], FIRST["birth_date"], T0, 1)
    chair_1_url = clinic.role("chair", "chair_1")
    _shipped(tmp_path / "a.db", chair_1_url, "Chair 1")
    chair_1 = Replicator(tmp_path / "a.db", chair_1_url, chair_name="Chair 1")
    chair_1.identity_every_s = 0.2  # its patient looked up again every 0.2 s rather than 15
    told_1: list[str | None] = []
    chair_1.on_identity = told_1.append
    chair_1.publish({"active": True, "session_id": first, "now": time.time(), "phase": "recovery"})
    chair_1.start()

    store = Store(tmp_path / "b.db")
    source = SimulatedSource(scenario="normal", seed=2, speed=1.0, start_time=time.time())
    recorder = Recorder.new_session(store, source, driver="simulated", port=None,
                                    plan=parse_plan("baseline:5,infusion:40,recovery:30"), nurse="RN",
                                    alarms=AlarmEngine())
    replicator = start_replication(clinic.role("chair", "chair_2"), tmp_path / "b.db", recorder, "Chair 2")
    try:
        recorder.step(timeout=0.0)
        recorder.submit("identify_patient", "RN", mrn="4711", patient_name="Ann Lee", birth_date=OTHER_BIRTH)
        assert recorder.alarms is not None
        engine = recorder.alarms

        def conflict_alarms() -> list[Any]:
            return [a for a in engine.snapshot(recorder.session.now).active if a.condition == "identity_conflict"]

        [alarm] = _until(conflict_alarms, lambda: recorder.step(timeout=0.05))
        assert alarm.priority.name == "MEDIUM" and alarm.kind.value == "technical"
        assert "another birth date at Chair 1" in alarm.message and first[:8] in alarm.message
        assert OTHER_BIRTH not in alarm.message and FIRST["birth_date"] not in alarm.message
        assert "wristband" in alarm.message
        # At the station: the chair's tile carries the alarm as the chair words it.
        with psycopg.connect(clinic.role("reader"), autocommit=True) as conn:

            def tile_alarms() -> list[str]:
                recorder.step(timeout=0.05)
                model = StationModel()
                for row in server_store.chair_rows(conn, ["chair_2"]):
                    model.apply(report_from_row(row))
                return [a.message for view in model.views() for a in view.tile.alarms
                        if a.condition == "identity_conflict"]

            assert _until(tile_alarms) == [alarm.message]
        # Chair 1 learns of it at its next look.
        said = _until(lambda: [t for t in told_1 if t])
        assert "another birth date at Chair 2" in said[0] and recorder.session.id[:8] in said[0]
    finally:
        chair_1.stop()
        replicator.stop()
        recorder.stop()
        recorder.close()
    try:
        conditions = [e.detail.get("condition") for e in store.events(recorder.session.id)
                      if e.kind is EventKind.TECHNICAL]
        assert conditions.count("identity_conflict") == 1
    finally:
        store.close()


def test_server_migrate_gives_the_names_already_there_the_chairs_form(
    clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names a server of schema 6 holds are compared as the chairs compare them once it is migrated: the same name
    typed with a combining diaeresis is no conflict, the other birth date is."""
    from monitor import server as local_server
    from monitor.replication import replicator as replicator_module
    from monitor.replication import schema

    old = Clinic(clinic.server, f"{clinic.database}_v6", clinic.folder)
    with monkeypatch.context() as schema_6:
        schema_6.setattr(schema, "SCHEMA_VERSION", 6)
        schema_6.setattr(replicator_module, "CHAIR_SCHEMA", 6)  # chairs of the earlier version
        schema_6.setattr(server_writes, "publish_chair", publish_before_schema_8)
        local_server.create_database(clinic.server, old.database)
        _identified(tmp_path / "a.db", "4711", "Zoë Lee", FIRST["birth_date"], T0, 1)
        second = _identified(tmp_path / "b.db", "4711", "ZOE\u0308 LEE", OTHER_BIRTH, T0 + 86_400, 2)
        _shipped(tmp_path / "a.db", old.role("chair", "chair_1"), "Chair 1")
        chair_2 = old.role("chair", "chair_2")
        _shipped(tmp_path / "b.db", chair_2, "Chair 2")
    assert main(["server", "migrate", "--url", old.admin_url], out=io.StringIO()) == 0
    with psycopg.connect(chair_2, autocommit=True) as conn:
        assert [held.field for held in server_writes.identity_held_elsewhere(conn, second)] == ["birth date"]
    with server_store.ServerStore(old.role("reader")) as store:
        assert [conflict.fields for conflict in store.identity_conflicts()] == [("birth date",)]
