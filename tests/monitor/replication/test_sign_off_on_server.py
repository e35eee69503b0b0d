"""A sign-off written at the chair goes to the clinic's server with the session's timeline, so every chair's list
read from the server says who signed a session off and which sessions still wait for a physician."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor import sign_off
from monitor.cli import main
from monitor.replication.server_store import ServerStore
from monitor.store import Store, outbox
from tests.conftest import Clinic
from tests.monitor.replication.shipping import record_for, replicate


def test_the_servers_lists_show_the_chairs_sign_offs(clinic: Clinic, tmp_path: Path) -> None:
    db = tmp_path / "chair.db"
    signed = record_for(db, "MRN-31", 1_790_000_000.0, 4)
    waiting = record_for(db, "MRN-32", 1_790_100_000.0, 5)
    with Store(db) as store:
        sign_off.sign_off(store, signed, user="Dr Mensah", role="physician", comment="Reviewed",
                          now=1_790_200_000.0)
    replicate(db, clinic.role("chair"))
    reader = clinic.role("reader")
    out = io.StringIO()
    assert main(["sessions", "--server", reader, "--db", str(tmp_path / "office.db"), "--json"], out=out) == 0
    listed = {s["id"]: s["signed_off"] for s in json.loads(out.getvalue())}
    assert listed == {signed: [{"by": "Dr Mensah", "role": "physician", "at": "2026-09-23T21:46:40.000+00:00",
                                "comment": "Reviewed"}], waiting: []}
    out = io.StringIO()
    assert main(["sessions", "--server", reader, "--db", str(tmp_path / "office.db"), "--unsigned", "--json"],
                out=out) == 0
    assert [s["id"] for s in json.loads(out.getvalue())] == [waiting]
    with ServerStore(reader) as server:
        assert [s.by for s in sign_off.sign_offs(server.events(signed))] == ["Dr Mensah"]


def _awaiting_on_server(reader: str, tmp_path: Path) -> set[str]:
    out = io.StringIO()
    assert main(["sessions", "--server", reader, "--db", str(tmp_path / "office.db"), "--unsigned", "--json"],
                out=out) == 0
    return {s["id"] for s in json.loads(out.getvalue())}


def test_a_sign_off_at_the_chair_reaches_the_server_at_once(
    clinic: Clinic, tmp_path: Path, signed_in_as: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only when the chair records its next patient: the server's list of sessions awaiting a sign-off is
    what physicians at other computers work from."""
    db = tmp_path / "chair.db"
    signed = record_for(db, "MRN-41", 1_790_000_000.0, 4)
    waiting = record_for(db, "MRN-42", 1_790_100_000.0, 5)
    signed_in_as(db, "Dr Mensah", "physician")
    chair = clinic.role("chair")
    replicate(db, chair)
    reader = clinic.role("reader")
    assert _awaiting_on_server(reader, tmp_path) == {signed, waiting}
    with psycopg.connect(clinic.admin_url) as admin:
        # The chair's tile as while it records its next patient: a sign-off must not end it (a close does).
        admin.execute("""UPDATE chairs SET live = '{"active": true, "session_id": "next"}'""")
        station_before = admin.execute("SELECT chair, origin, live FROM chairs ORDER BY chair").fetchall()
    monkeypatch.setenv("INFUSION_MONITOR_SERVER", chair)
    out = io.StringIO()
    assert main(["sign-off", signed[:8], "--db", str(db), "--user", "Dr Mensah"], out=out) == 0
    told = out.getvalue().splitlines()
    assert told[1].startswith("Server ") and told[1].endswith(": the sign-off is on the server too")
    assert _awaiting_on_server(reader, tmp_path) == {waiting}
    with sqlite3.connect(db) as conn:
        assert outbox.state(conn).pending == 0
    with psycopg.connect(clinic.admin_url) as admin:
        assert admin.execute("SELECT chair, origin, live FROM chairs ORDER BY chair").fetchall() == station_before
