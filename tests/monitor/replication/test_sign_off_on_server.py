"""A sign-off written at the chair goes to the clinic's server with the session's timeline, so every chair's list
read from the server says who signed a session off and which sessions still wait for a physician."""

from __future__ import annotations

import io
import json
from pathlib import Path

from monitor import sign_off
from monitor.cli import main
from monitor.replication.server_store import ServerStore
from monitor.store import Store
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
