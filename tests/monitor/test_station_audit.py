"""The nurse station's audit entries (without Qt): who opened it, whose MRNs it showed and when, when it closed; a
database that does not take them never stops the station; the refusal of a station nobody signed in to.

Before them the station showed every chair's MRN to whoever stood in front of it and left no trace: "who had the
station open showing MRNs on the 3rd, from when to when" had no answer.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from monitor import station_audit
from monitor.cli import main
from monitor.replication.live import not_kept_document, parse_tile
from monitor.session_list import IDS_KEPT
from monitor.station import ChairReport, StationModel
from monitor.station_audit import KeptAuditLog, StationAudit
from monitor.store import Store
from tests.conftest import ADMIN_SECRET

SERVER = "postgresql://reader@clinic.example:5432/clinic"


def _report(chair: str, session: str, mrn: str | None, active: bool = True) -> ChairReport:
    document = {"active": active, "session_id": session, "now": 1000.0, "phase": "infusion",
                "values": {"hr": 72.0, "spo2": 97.0}, "alarms": []}
    return ChairReport(chair, chair.replace("_", " ").title(), parse_tile(document), mrn, "Ann Lee")


def _entries(db: Path) -> list[dict[str, Any]]:
    with Store(db, readonly=True) as store:
        return [dict(row, detail=json.loads(row["detail"])) for row in store.audit_log()
                if str(row["action"]).startswith("station")]


class _Station:
    """A station's model and its audit on a real local database, with a clock the test moves."""

    def __init__(self, db: Path, show: str = "mrn") -> None:
        self.store = Store(db)
        self.said: list[str] = []
        self.clock = [0.0]
        self.model = StationModel(show=show)
        self.audit = StationAudit(KeptAuditLog(self.store), user="RN", server=SERVER, show=show,
                                  escalate_after_s=45.0, say=self.said.append, clock=lambda: self.clock[0])

    def screen(self) -> None:
        """What the window does on each refresh."""
        self.audit.shown(self.model.mrns_shown(self.model.views()))


def test_the_opening_each_change_of_the_mrns_shown_and_the_closing_are_recorded(db_path: Path) -> None:
    station = _Station(db_path)
    station.audit.opened()
    station.screen()
    station.model.apply(_report("chair_1", "s-1", "MRN-101"))
    for _ in range(3):  # the window refreshes 8 times a second: one entry for one change
        station.screen()
    station.model.apply(_report("chair_2", "s-2", "MRN-202"))
    station.model.apply(_report("chair_3", "s-3", None))  # no MRN: "—" is shown, nobody's identifier
    station.screen()
    station.model.apply(_report("chair_1", "s-1", "MRN-101", active=False))  # its session ended: the tile goes
    station.screen()
    station.audit.closed("SIGTERM")
    station.store.close()
    entries = _entries(db_path)
    assert [(e["action"], e["user"]) for e in entries] == [
        ("station_opened", "RN"), ("station_mrns_shown", "RN"), ("station_mrns_shown", "RN"),
        ("station_mrns_shown", "RN"), ("station_closed", "RN")]
    assert entries[0]["detail"] == {"server": SERVER, "show": "mrn", "escalate_after_s": 45.0}
    assert [e["detail"] for e in entries[1:4]] == [
        {"server": SERVER, "shown": 1, "sessions": ["s-1"]},
        {"server": SERVER, "shown": 2, "sessions": ["s-1", "s-2"]},
        {"server": SERVER, "shown": 1, "sessions": ["s-2"]},
    ]
    assert entries[4]["detail"]["how"] == "SIGTERM" and entries[4]["detail"]["open_s"] >= 0
    assert all("MRN-" not in json.dumps(e["detail"]) for e in entries)  # ids in the log, never the MRNs
    assert station.said == [] and station.audit.trouble is None


def test_an_ended_session_named_in_the_banner_by_its_mrn_counts_as_shown(db_path: Path) -> None:
    """Its tile is gone, but the banner's line of rows its chair could not keep names the patient by MRN."""
    station = _Station(db_path)
    station.model.apply(_report("chair_1", "s-1", "MRN-101"))
    station.screen()
    document = {"active": False, "session_id": "s-1", "now": 1001.0, "phase": "recovery", "values": {}, "alarms": [],
                **not_kept_document(75, "/d/m.db.recovery-s-1.jsonl")}
    station.model.apply(ChairReport("chair_1", "Chair 1", parse_tile(document), "MRN-101", "Ann Lee"))
    station.screen()
    assert station.model.views() == [] and "MRN-101" in station.model.records_not_kept()[0].message
    assert [e["detail"]["sessions"] for e in _entries(db_path)] == [["s-1"]]  # still shown: no entry
    station.model.apply(_report("chair_1", "s-9", None))  # the chair records again (no patient yet): the line goes
    station.screen()
    station.store.close()
    assert [e["detail"]["sessions"] for e in _entries(db_path)] == [["s-1"], []]


def test_a_long_list_of_sessions_shown_keeps_their_digest(db_path: Path) -> None:
    station = _Station(db_path)
    for n in range(IDS_KEPT + 1):
        station.model.apply(_report(f"chair_{n}", f"s-{n:03d}", f"MRN-{n}"))
    station.screen()
    station.store.close()
    [shown] = _entries(db_path)
    assert shown["detail"]["shown"] == IDS_KEPT + 1 and set(shown["detail"]) == {"server", "shown", "sessions_sha256"}


def test_with_initials_only_the_opening_and_the_closing_are_recorded(db_path: Path) -> None:
    station = _Station(db_path, show="initials")
    station.audit.opened()
    station.model.apply(_report("chair_1", "s-1", "MRN-101"))
    station.screen()
    assert station.model.mrns_shown(station.model.views()) == {}
    station.audit.closed("the window closed")
    station.store.close()
    assert [(e["action"], e["detail"]["show"]) for e in _entries(db_path)] == [
        ("station_opened", "initials"), ("station_closed", "initials")]


def test_an_entry_the_database_does_not_take_is_said_held_and_written_with_its_time_later(db_path: Path) -> None:
    station = _Station(db_path)
    station.audit.opened()
    away = db_path.with_name("elsewhere.db")
    db_path.rename(away)  # the file taken away: a connection kept on it would write where nobody reads
    station.model.apply(_report("chair_1", "s-1", "MRN-101"))
    station.screen()
    trouble = station.audit.trouble
    assert trouble is not None and str(db_path) in trouble and "is gone" in trouble
    station.model.apply(_report("chair_2", "s-2", "MRN-202"))
    for _ in range(3):
        station.screen()
    assert len(station.said) == 1 and "the station goes on" in station.said[0]  # said once, not each refresh
    away.rename(db_path)
    station.screen()  # not yet time to try again
    assert station.audit.trouble is not None
    station.clock[0] += station_audit.RETRY_S
    station.screen()
    assert station.audit.trouble is None and "recorded again" in station.said[-1]
    station.store.close()
    entries = _entries(db_path)
    assert [e["detail"].get("sessions") for e in entries] == [None, ["s-1"], ["s-1", "s-2"]]
    assert entries[1]["at"] < entries[2]["at"]  # each with the time it happened, not the time it was written


def test_entries_never_written_are_said_entry_by_entry_at_the_close(db_path: Path) -> None:
    station = _Station(db_path)
    station.audit.opened()
    db_path.unlink()
    station.model.apply(_report("chair_1", "s-1", "MRN-101"))
    station.screen()
    station.audit.closed("the window closed")
    station.store.close()
    lost = [line for line in station.said if line.startswith("not recorded: ")]
    assert [line.split()[4] for line in lost] == ["station_mrns_shown", "station_closed"]
    assert "'sessions': ['s-1']" in lost[0] and "MRN-101" not in "".join(station.said)


def _run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(argv), out=io.StringIO())
    return code, err.getvalue()


def test_a_station_whose_sign_in_fails_is_refused_and_the_refusal_recorded(
        db_path: Path, accounts_in: Any, tmp_path: Path) -> None:
    accounts_in(db_path)
    secret_file = tmp_path / "secret"
    secret_file.write_text("wrong-secret\n")
    secret_file.chmod(0o600)
    code, err = _run("station", "--server", SERVER, "--db", str(db_path), "--user", "RN",
                     "--secret-file", str(secret_file))
    assert code == 1 and "sign-in as 'RN' refused" in err
    entries = _entries(db_path)
    assert [e["action"] for e in entries] == ["station_refused"]
    assert entries[0]["detail"] == {"reason": "sign-in refused", "account": "RN",
                                  "server": "reader@clinic.example/clinic", "show": "mrn"}


def test_the_audit_command_lists_the_stations_entries(db_path: Path, accounts_in: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    accounts_in(db_path)
    station = _Station(db_path)
    station.audit.opened()
    station.model.apply(_report("chair_1", "s-1", "MRN-101"))
    station.screen()
    station.audit.closed("SIGINT")
    station.store.close()
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", ADMIN_SECRET)
    for action, said in (("station_opened", 'server="postgresql://reader@clinic.example:5432/clinic"'),
                         ("station_mrns_shown", 'sessions=["s-1"]'), ("station_closed", 'how="SIGINT"')):
        out = io.StringIO()
        assert main(["audit", "--db", str(db_path), "--user", "AD", "--action", action], out=out) == 0
        lines = out.getvalue().splitlines()
        assert lines[-1] == "1 entry" and lines[1].split()[2:4] == ["RN", action] and said in lines[1]
