"""The nurse station against real chair processes and a real PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor.accounts import os_user
from monitor.station import StationFeed, StationModel
from monitor.store import Store
from tests.conftest import NURSE_SECRET, Clinic
from tests.faults.helpers import CommandLine, until
from ui.dialogs import SignedInUser
from ui.session_browser import SessionBrowser

PLAN = "baseline:2,infusion:30,recovery:10"


def _record(db: Path, url: str, *extra: str, speed: str = "5") -> CommandLine:
    return CommandLine("record", "--db", str(db), "--speed", speed, "--plan", PLAN, "--nurse", "RN",
                       "--quiet", "--server", url, "--chair", db.stem, *extra)


def _live_on_server(clinic: Clinic) -> bool:
    with psycopg.connect(clinic.admin_url) as admin:
        row = admin.execute("SELECT count(*) FROM chairs WHERE live IS NOT NULL").fetchone()
    return bool(row and row[0])


def test_a_station_started_after_a_chair_died_does_not_show_it_as_current(clinic: Clinic, tmp_path: Path) -> None:
    """A chair killed -9 (power cut) twenty seconds ago: a station opened now must not show its values as current
    nor count its silence from zero."""
    db = tmp_path / "chair_dead.db"
    chair = _record(db, clinic.role("chair", "chair_dead"))
    try:
        until(lambda: _live_on_server(clinic), 30, "the chair's live status on the server")
        time.sleep(3)
    finally:
        chair.kill()
    time.sleep(20)
    model = StationModel()
    feed = StationFeed(clinic.role("reader", "station_new"), model.apply)
    feed.start()
    try:
        until(lambda: bool(model.views()), 15, "the chair's tile")
        view = model.views()[0]
        alarms = [a.condition for a in model.station_alarms()]
    finally:
        feed.stop()
    assert not view.current, (
        f"a chair silent for 20 s is shown as current: silent_s={view.silent_s:.1f}, offline={view.offline}, "
        f"station alarms={alarms}"
    )
    assert view.silent_s >= 15, f"the chair has been silent 20 s; the station says {view.silent_s:.1f} s"


#: How the session is closed, and the short name its chair's and station's logins carry.
CLOSED_WHERE = {"command line": "c", "command line, no accounts": "n", "session browser": "s"}


@pytest.mark.parametrize("where", list(CLOSED_WHERE))
def test_a_session_closed_after_its_chair_crashed_leaves_the_station(
    clinic: Clinic, tmp_path: Path, accounts_in: Any, where: str, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chair's program was killed; the nurse closes the unfinished session at the chair (the patient moves to
    another chair), with `close` or in the session browser. The station must not go on sounding 'not reporting'
    for that closed session. A chair that only runs `record` has a database without accounts: there the
    operating-system user closes it, as it may resume it (`close` once asked for an account nobody could give)."""
    db = tmp_path / "chair_closed.db"
    if where != "command line, no accounts":
        accounts_in(db)
    short = CLOSED_WHERE[where]
    url = clinic.role("chair", f"chair_closed_{short}")
    chair = _record(db, url)
    try:
        until(lambda: _live_on_server(clinic), 30, "the chair's live status on the server")
        time.sleep(2)
    finally:
        chair.kill()
    if where == "command line":
        closing = CommandLine("close", "latest", "--db", str(db), "--user", "RN",
                              env={"INFUSION_MONITOR_SERVER": url, "INFUSION_MONITOR_SECRET": NURSE_SECRET})
        assert closing.finish(60) == 0, closing.output()
    elif where == "command line, no accounts":
        closing = CommandLine("close", "latest", "--db", str(db), env={"INFUSION_MONITOR_SERVER": url})
        assert closing.finish(60) == 0, closing.output()
        with Store(db) as store:
            [session] = store.sessions()
            closed_by = [entry["user"] for entry in store.audit_log(session.id)
                         if entry["action"] == "session_closed_after_crash"]
        assert session.status == "closed" and closed_by == [os_user().name], (session.status, closed_by)
    else:
        monkeypatch.setenv("INFUSION_MONITOR_SERVER", url)
        browser = SessionBrowser(db, SignedInUser("RN", "nurse"))
        qtbot.addWidget(browser)
        (unfinished,) = [f.summary.id for f in browser.table.found if f.summary.status == "unfinished"]
        assert browser.close_session(unfinished)
        # The window goes on at once; the server's answer arrives from the thread that sent the close.
        qtbot.waitUntil(lambda: any("closed there too" in m for m in browser.messages), timeout=30_000)
    model = StationModel()
    feed = StationFeed(clinic.role("reader", f"station_closed_{short}"), model.apply)
    feed.start()
    try:
        time.sleep(10)
        alarms = [a.message for a in model.station_alarms()]
        tiles = [v.name for v in model.views()]
    finally:
        feed.stop()
    with psycopg.connect(clinic.admin_url) as admin:
        statuses = [r[0] for r in admin.execute("SELECT status FROM sessions")]
    assert not tiles and not alarms, f"closed at the chair, on the station: tiles {tiles}, alarms {alarms}; " \
                                     f"the server's session status: {statuses}"
    assert statuses == ["closed"]
