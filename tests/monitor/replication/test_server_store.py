"""Reading the clinic-wide history from the server: a patient's course across chairs, exports equal to the chair's."""

from __future__ import annotations

import io
import json
from pathlib import Path

import psycopg
import pytest

from drivers.core.readings import Parameter
from monitor.cli import main
from monitor.replication.server_store import ServerStore
from monitor.store import Store
from tests.conftest import Clinic
from tests.monitor.replication.shipping import patient_at_two_chairs, record_for, replicate


def test_a_patients_course_spans_every_chair(clinic: Clinic, tmp_path: Path) -> None:
    _, _, first, second = patient_at_two_chairs(tmp_path, clinic.role("chair"), "MRN-77", (1, 2), ("MRN-12", 3))
    reader = clinic.role("reader")
    with ServerStore(reader) as server:
        assert [s.id for s in server.course("MRN-77")] == [first, second]
        assert len(server.sessions()) == 3
    out = io.StringIO()
    assert main(["sessions", "--server", reader, "--patient", "MRN-77", "--json"], out=out) == 0
    listed = json.loads(out.getvalue())
    assert [s["id"] for s in listed] == [first, second]
    assert {s["patient"] for s in listed} == {"MRN-77"}


def test_an_export_from_the_server_equals_the_chairs_own(clinic: Clinic, tmp_path: Path) -> None:
    db = tmp_path / "chair.db"
    session_id = record_for(db, "MRN-5", 1_790_000_000.0, 4)
    replicate(db, clinic.role("chair"))
    for fmt in ("csv", "json"):
        local, remote = tmp_path / f"local.{fmt}", tmp_path / f"server.{fmt}"
        assert main(["export", session_id, "--db", str(db), "--format", fmt, "--out", str(local)]) == 0
        assert main(["export", session_id[:8], "--server", clinic.role("reader"), "--db", str(tmp_path / "r.db"),
                     "--format", fmt, "--out", str(remote)]) == 0
        if fmt == "csv":
            # Identical but for the statement line's verification (below).
            (mine_first, mine_rest), (their_first, their_rest) = (
                f.read_bytes().split(b"\n", 1) for f in (local, remote))
            assert b": record verified" in mine_first and b": record not checked here" in their_first
            assert their_rest == mine_rest
        else:
            # Identical but for the verification line: the chair checks its own record's hash chains;
            # the server holds no chain and says so.
            mine, theirs = json.loads(local.read_text()), json.loads(remote.read_text())
            assert mine["session"].pop("verification").startswith("verified")
            assert theirs["session"].pop("verification").startswith("not checked here")
            assert theirs == mine
    with Store(tmp_path / "r.db", readonly=True) as reviewer:
        audited = [row for row in reviewer.audit_log() if row["action"] == "export"]
    assert len(audited) == 2 and all("clinic_" in json.loads(row["detail"])["server"] for row in audited)


def test_the_station_trend_is_the_last_stretch_of_the_chairs_readings(clinic: Clinic, tmp_path: Path) -> None:
    db = tmp_path / "chair.db"
    session_id = record_for(db, "MRN-9", 1_790_000_000.0, 6)
    replicate(db, clinic.role("chair"))
    wanted = (Parameter.HR, Parameter.SPO2)
    with Store(db, readonly=True) as chair:
        everything = list(chair.readings(session_id))
        newest = max(r.t for r in everything)
        expected = [(r.t, r.parameter, r.value) for r in everything if r.parameter in wanted and r.t >= newest - 30]
    with ServerStore(clinic.role("reader")) as server:
        trend = server.recent_readings(session_id, wanted, 30.0)
    assert expected and len(expected) < sum(r.parameter in wanted for r in everything)
    assert [(r.t, r.parameter, r.value) for r in trend] == expected


def test_a_row_the_server_cannot_read_is_passed_over_and_the_export_says_so(
    clinic: Clinic, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An event without a phase ended the export of its whole session with a traceback (``Phase(None)``)."""
    db = tmp_path / "chair.db"
    session_id = record_for(db, "MRN-5", 1_790_000_000.0, 4)
    chair = clinic.role("chair")
    origin = replicate(db, chair).origin
    login = psycopg.conninfo.conninfo_to_dict(chair)["user"]
    reader = clinic.role("reader")
    with ServerStore(reader) as server:
        events, alarms = server.events(session_id), server.alarms(session_id)
    with psycopg.connect(clinic.admin_url) as conn:  # written by the chair's own login, but not readable
        mine = [origin, 900_000, login, session_id]
        conn.execute("INSERT INTO events (origin, local_id, chair, session_id, t, kind, phase, detail) "
                     "VALUES (%s, %s, %s, %s, 1790000100, 'note', NULL, '{\"text\": \"x\"}')", mine)
        conn.execute("INSERT INTO readings (origin, local_id, chair, session_id, t, parameter, value, unit) "
                     "VALUES (%s, %s, %s, %s, 1790000100, 'nonsense', 1, '')", mine)
        conn.execute("INSERT INTO waveforms (origin, local_id, chair, session_id, parameter, t0, rate_hz, n, samples) "
                     "VALUES (%s, %s, %s, %s, 'pleth', 1790000100, 75, 2, '\\x000000')", mine)
        conn.execute("INSERT INTO alarms (id, origin, chair, session_id, priority, kind, started_at) "
                     "VALUES ('loud', %s, %s, %s, 'loud', 'physiological', 1790000100)", mine[:1] + mine[2:])
    with ServerStore(reader) as server:
        assert server.events(session_id) == events and server.alarms(session_id) == alarms
        assert len(list(server.readings(session_id))) == server.reading_count(session_id) - 1
        assert server.waveform(session_id) == ([], [])
        assert server.set_aside(session_id).unreadable == {"alarms": 1, "events": 1, "readings": 1, "waveforms": 1}
    assert "cannot be read and is not shown" in caplog.text
    out = tmp_path / "events.csv"
    assert main(["export", session_id, "--server", reader, "--db", str(tmp_path / "r.db"), "--format", "csv-events",
                 "--out", str(out)]) == 0
    assert "not shown: 4 rows (alarms 1, events 1, readings 1, waveforms 1) that cannot be read" in out.read_text()
