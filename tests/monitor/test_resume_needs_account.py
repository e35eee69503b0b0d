"""Resuming a session left unfinished needs a signed-in account where the database has accounts, as closing it
does: otherwise anyone at the keyboard could continue and end another account's session, audited only as the
operating-system user. A database without accounts keeps the chair's own resume."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.accounts import os_user
from monitor.alarms.engine import AlarmEngine
from monitor.app.device import DeviceSpec
from monitor.app.sessions import SessionSpec, start_session
from monitor.cli import main
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from tests.conftest import NURSE_SECRET, abandon


def _unfinished(db_path: Path) -> str:
    """A session recorded for a minute and left as a killed process leaves it; its id."""
    with Store(db_path) as store:
        source = SimulatedSource(seed=5, speed=math.inf, start_time=time.time() - 3600)
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(3, 40, 30),
                                        nurse="RN", alarms=AlarmEngine())
        for _ in range(60):
            recorder.step()
        recorder.flush()
        session_id, _ = abandon(recorder, store)
    return session_id


def _resume(db_path: Path, session_id: str, *identity: str) -> int:
    return main(["record", "--db", str(db_path), "--resume", session_id[:8], "--speed", "max", "--duration", "1",
                 "--quiet", *identity])


def _resumed_by(db_path: Path, session_id: str) -> list[str]:
    with Store(db_path) as store:
        return [row["user"] for row in store.audit_log(session_id) if row["action"] == "session_resumed"]


def test_a_resume_without_a_sign_in_is_refused_where_the_database_has_accounts(
    db_path: Path, accounts_in: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    session_id = _unfinished(db_path)
    accounts_in(db_path)
    assert _resume(db_path, session_id) == 1
    assert "needs a signed-in account: give --user NAME" in capsys.readouterr().err
    with Store(db_path) as store:
        assert store.session_row(session_id)["status"] == "recording"  # untouched: still unfinished
        assert store.status_of(store.session_row(session_id)) == "unfinished"
    assert _resumed_by(db_path, session_id) == []


def test_a_signed_in_account_resumes_and_is_named_in_the_audit_log(
    db_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = _unfinished(db_path)
    accounts_in(db_path)
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    assert _resume(db_path, session_id, "--user", "RN") == 0
    assert _resumed_by(db_path, session_id) == ["RN"]


def test_a_database_without_accounts_keeps_the_chairs_own_resume(db_path: Path) -> None:
    session_id = _unfinished(db_path)
    with Store(db_path) as store:
        spec = SessionSpec(device=DeviceSpec(driver="simulated", speed=math.inf), resume=session_id)
        recorder = start_session(spec, store, os_user(), lambda _: None)
        recorder.stop()
        recorder.close()
    assert _resumed_by(db_path, session_id) == [os_user().name]
