"""A chair that lost the server says so when it has it back (``record`` printed the loss and never the return)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from monitor.replication.replicator import Replicator
from monitor.store import Store
from tests.conftest import Clinic
from tests.monitor.replication.shipping import drain


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_server_link_back_is_said_as_its_loss_was(clinic: Clinic, db_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="monitor.replication.replicator")
    url = clinic.role("chair", "chair_back")
    Store(db_path).close()
    with psycopg.connect(clinic.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier("chair_back")))
        replicator = Replicator(db_path, url, chair_name="Chair 8")
        replicator.start()
        try:
            deadline = time.monotonic() + 15.0
            while not any(s.startswith("server link lost: ") for s in _said(caplog)):
                assert time.monotonic() < deadline, _said(caplog)
                time.sleep(0.05)
            assert not replicator.status().connected
            admin.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier("chair_back")))
            drain(replicator)
        finally:
            replicator.stop()
    said = _said(caplog)
    back = [s for s in said if s.startswith("server link back: replicating to ")]
    assert len(back) == 1 and back[0].endswith(" again (what waited here is sent now)"), said
    assert said.index(back[0]) > max(i for i, s in enumerate(said) if s.startswith("server link lost: "))
