"""The real station window against a real PostgreSQL records who watched and whose MRNs it showed; a local database
that no longer takes entries leaves the tiles on the screen and says so; a cancelled sign-in is a refusal."""

from __future__ import annotations

import argparse
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from monitor.app.errors import AppError
from monitor.station import StationModel
from monitor.station_audit import KeptAuditLog, StationAudit
from monitor.store import Store
from tests.conftest import NURSE_SECRET, Clinic
from tests.monitor.replication.test_station import _watched
from ui.account_dialogs import AccountSignInDialog
from ui.station_window import audited_station, station_reader


def _station_entries(db: Path) -> list[dict[str, Any]]:
    with Store(db, readonly=True) as store:
        return [dict(row, detail=json.loads(row["detail"])) for row in store.audit_log()
                if str(row["action"]).startswith("station")]


def _open(qtbot: Any, clinic: Clinic, tmp_path: Path, said: list[str]) -> Any:
    """A chair recording patient MRN-77's session, live on the server; the station watching it, audited in its own
    local database (``station.db``)."""
    chair = _watched(clinic, tmp_path / "chair.db", "chair_seven", "Chair 7", 3)
    chair.feed.stop()  # the helper's own station: the window below is the one watched
    chair.store.assign_patient(chair.recorder.session.id, chair.store.create_patient("MRN-77"))
    chair.until_first_heart_rate()
    local = Store(tmp_path / "station.db")
    reader_url = clinic.role("reader")
    audit = StationAudit(KeptAuditLog(local), user="RN", server="reader@clinic", show="mrn", escalate_after_s=60.0,
                         say=said.append)
    window, feed = audited_station(reader_url, StationModel(), audit)
    qtbot.addWidget(window)
    return chair, local, window, feed


def test_the_station_records_its_opening_the_mrns_it_shows_and_its_closing(
        qtbot: Any, clinic: Clinic, tmp_path: Path) -> None:
    said: list[str] = []
    chair, local, window, feed = _open(qtbot, clinic, tmp_path, said)
    session = chair.recorder.session.id
    try:
        window.show()
        feed.start()
        qtbot.waitUntil(lambda: any("MRN-77" in t.title.text() for t in window.tiles.values()), timeout=30_000)
        qtbot.waitUntil(lambda: [e["action"] for e in _station_entries(local.path)]
                        == ["station_opened", "station_mrns_shown"], timeout=10_000)
    finally:
        feed.stop()
        chair.shut()
    window.audit.closed("the window closed")
    local.close()
    entries = _station_entries(local.path)
    assert [(e["action"], e["user"]) for e in entries] == [
        ("station_opened", "RN"), ("station_mrns_shown", "RN"), ("station_closed", "RN")]
    assert entries[1]["detail"] == {"server": "reader@clinic", "shown": 1, "sessions": [session]}
    assert said == [] and "not being recorded" not in window.banner.text()


def test_a_local_database_that_takes_no_entry_leaves_the_tiles_and_says_so(
        qtbot: Any, clinic: Clinic, tmp_path: Path) -> None:
    said: list[str] = []
    chair, local, window, feed = _open(qtbot, clinic, tmp_path, said)
    try:
        local.path.unlink()  # the station's database removed while it is open
        window.show()
        feed.start()
        qtbot.waitUntil(lambda: "not being recorded" in window.banner.text(), timeout=30_000)
        # The station goes on: the chair's tile is there, with its MRN and its values.
        [tile] = window.tiles.values()
        assert "MRN-77" in tile.title.text() and "HR" in tile.numerics.text()
        assert "is gone" in window.banner.text() and "1 active chairs" in window.banner.text()
        assert len([line for line in said if "not being recorded" in line]) == 1
    finally:
        feed.stop()
        chair.shut()
        local.close()


def test_a_cancelled_sign_in_is_a_refusal_recorded_as_such(qtbot: Any, db_path: Path, accounts_in: Any) -> None:
    accounts_in(db_path)

    def answer(sign_in: bool) -> None:
        dialog = next((w for w in QApplication.topLevelWidgets()
                       if isinstance(w, AccountSignInDialog) and w.isVisible()), None)
        if dialog is None:
            QTimer.singleShot(50, lambda: answer(sign_in))
        elif sign_in:
            dialog.name_edit.setText("RN")
            dialog.secret_edit.setText(NURSE_SECRET)
            dialog._check()
        else:
            dialog.reject()

    args = argparse.Namespace(user=None, secret_file=None)
    with Store(db_path) as store:
        QTimer.singleShot(0, lambda: answer(False))
        with pytest.raises(AppError, match="needs a signed-in account on this database, and nobody signed in"):
            station_reader(args, store, server="reader@clinic", show="mrn")
        QTimer.singleShot(0, lambda: answer(True))
        assert station_reader(args, store, server="reader@clinic", show="mrn").name == "RN"
    [refused] = [e for e in _station_entries(db_path) if e["action"] == "station_refused"]
    assert refused["detail"] == {"reason": "sign-in cancelled", "server": "reader@clinic", "show": "mrn"}


def test_the_station_program_records_who_opened_it_and_its_end_by_sigterm(
        clinic: Clinic, db_path: Path, accounts_in: Any) -> None:
    from tests.faults.helpers import CommandLine

    accounts_in(db_path)
    station = CommandLine("station", "--server", clinic.role("reader"), "--db", str(db_path), "--user", "RN",
                          "--show", "initials",
                          env={"QT_QPA_PLATFORM": "offscreen", "INFUSION_MONITOR_SECRET": NURSE_SECRET})
    try:
        deadline = time.monotonic() + 60
        while not [e for e in _station_entries(db_path) if e["action"] == "station_opened"]:
            assert station.process.poll() is None, "\n".join(station.output())
            assert time.monotonic() < deadline, "no station_opened within 60 s"
            time.sleep(0.1)
        station.process.send_signal(signal.SIGTERM)
        assert station.finish(timeout=30) == 0
    finally:
        station.end()
    entries = _station_entries(db_path)
    assert [(e["action"], e["user"]) for e in entries] == [("station_opened", "RN"), ("station_closed", "RN")]
    assert entries[1]["detail"]["how"] == "SIGTERM" and entries[1]["detail"]["show"] == "initials"


def test_a_local_database_that_cannot_be_opened_leaves_the_station_open_by_initials(
        clinic: Clinic, tmp_path: Path) -> None:
    """A damaged or unreadable database on the station's computer: nobody can sign in and nothing can be recorded,
    but the station is how the nurses see every chair's alarms. It opens, names patients by initials only, says
    why, and ends cleanly."""
    from tests.faults.helpers import CommandLine

    broken = tmp_path / "station.db"
    broken.write_bytes(b"this is not a database " * 200)
    station = CommandLine("station", "--server", clinic.role("reader"), "--db", str(broken),
                          env={"QT_QPA_PLATFORM": "offscreen"})
    try:
        line = station.wait_for("cannot be opened", timeout=60)
        assert "patients are shown by initials only and the station's use is not recorded" in line
        time.sleep(3)
        assert station.process.poll() is None, "\n".join(station.output())  # open, not refused
        station.process.send_signal(signal.SIGTERM)
        assert station.finish(timeout=30) == 0
    finally:
        station.end()
    assert broken.read_bytes() == b"this is not a database " * 200


def test_without_an_audit_the_banner_says_why_and_tiles_show_initials(
        qtbot: Any, clinic: Clinic, tmp_path: Path) -> None:
    chair = _watched(clinic, tmp_path / "chair.db", "chair_eight", "Chair 8", 3)
    chair.feed.stop()
    chair.store.assign_patient(chair.recorder.session.id, chair.store.create_patient("MRN-88", name="Ann Lee"))
    chair.until_first_heart_rate()
    window, feed = audited_station(clinic.role("reader"), StationModel(show="initials"), None,
                                   notice="This computer's database cannot be opened (damaged): initials only")
    qtbot.addWidget(window)
    try:
        window.show()
        feed.start()
        qtbot.waitUntil(lambda: len(window.tiles) == 1, timeout=30_000)
        [tile] = window.tiles.values()
        qtbot.waitUntil(lambda: "A.L." in tile.title.text(), timeout=30_000)
        assert "MRN-88" not in tile.title.text()
        assert "cannot be opened (damaged): initials only" in window.banner.text()
    finally:
        feed.stop()
        chair.shut()
