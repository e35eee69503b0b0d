"""A session that ended with rows its chair could not write to its database (its disk failed): they are not on the
server either, and the nurse station must still say so once the session's tile is gone — until ``write-held`` at the
chair has put them in and sent them, or the chair records again. (Through a real server: ``test_station.py``.)"""

from __future__ import annotations

import socket
from typing import Any

from monitor.alarms.model import Priority
from monitor.replication.live import not_kept_document, parse_tile
from monitor.station import ChairReport, StationModel


def _report(chair: str, *, active: bool, session: str = "5e55101a-0001", **extra: Any) -> ChairReport:
    document = {"active": active, "session_id": session, "now": 1000.0, "phase": "recovery",
                "values": {"hr": 80.0, "spo2": 97.0}, "alarms": [], **extra}
    return ChairReport(chair, chair.replace("_", " ").title(), parse_tile(document), "MRN-7", "Ann Lee")


def test_the_document_says_nothing_when_every_row_was_written() -> None:
    assert not_kept_document(0, None) == {}
    said = not_kept_document(1092, "/var/lib/im/monitor.db.recovery-5e55101a-1.jsonl")
    assert said == {"not_kept": {"rows": 1092, "file": "/var/lib/im/monitor.db.recovery-5e55101a-1.jsonl",
                                 "host": socket.gethostname()}}
    assert parse_tile({"now": 1.0, **said}).not_kept is not None


def test_the_station_keeps_an_ended_session_whose_rows_were_not_kept_until_told_otherwise() -> None:
    model = StationModel()
    model.apply(_report("chair_1", active=True))
    model.apply(_report("chair_2", active=True))
    lost = not_kept_document(1092, "/data/monitor.db.recovery-5e55101a-1.jsonl")
    model.apply(_report("chair_1", active=False, **lost))
    # Its tile is gone; the word of its rows is not.
    assert [v.chair for v in model.views()] == ["chair_2"]
    [alarm] = model.station_alarms()
    assert (alarm.chair, alarm.condition, alarm.priority) == ("chair_1", "record_not_kept", Priority.LOW)
    assert alarm.message == (
        f"Chair 1: session 5e55101a of patient MRN-7 ended with 1092 rows NOT in the chair's database, so not on "
        f"the server either; they wait in /data/monitor.db.recovery-5e55101a-1.jsonl on {socket.gethostname()}: "
        "write them in there ('Write waiting rows' in its session list, or 'infusion-monitor write-held')"
    )
    # Shown, not sounded: nobody at the station can silence it.
    assert not alarm.sounds and model.sounding() is None
    # Another chair's news leaves it alone; a repeat of the same word keeps it once.
    model.apply(_report("chair_2", active=False))
    model.apply(_report("chair_1", active=False, **lost))
    assert [a.condition for a in model.station_alarms()] == ["record_not_kept"]
    # write-held at the chair sent them (the row is ended without the word): gone.
    model.apply(_report("chair_1", active=False))
    assert model.station_alarms() == []
    # ... or the chair records its next session.
    model.apply(_report("chair_1", active=False, **lost))
    model.apply(_report("chair_1", active=True, session="7a7a7a7a-0002"))
    assert model.station_alarms() == [] and [v.chair for v in model.views()] == ["chair_1"]


def test_rows_kept_nowhere_are_called_lost_and_the_patient_shown_as_the_clinic_chooses() -> None:
    model = StationModel(show="initials")
    model.apply(_report("chair_3", active=False, **not_kept_document(40, None)))
    [alarm] = model.station_alarms()
    assert "session 5e55101a of patient A.L. ended with 40 rows NOT in the chair's database" in alarm.message
    assert alarm.message.endswith("no file could hold them: they are lost")


def test_write_held_says_so_when_the_server_cannot_be_reached(tmp_path: Any) -> None:
    import socket as sockets

    from monitor.replication.chair import send_written_held
    from monitor.store import Store

    with sockets.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "monitor.db"
    Store(db).close()
    said = send_written_held(f"postgresql://chair9@127.0.0.1:{port}/im?connect_timeout=2", db, "5e55101a", timeout=2)
    assert said.startswith(f"Server chair9@127.0.0.1/im: not sent (connection failed: connection to server at "
                           f"\"127.0.0.1\", port {port} failed: Connection refused"), said
    assert said.endswith("rows wait here for the next start; the nurse station reports them missing until they are "
                         "sent (write-held --server again, or the next recording with --server)"), said
