"""Profiles approved, not just loaded; roles on the command line and at the recorder.

The attack of the issue: the shipped profile with both SpO2 rules switched off, given with
``--profile``, ``INFUSION_MONITOR_PROFILE`` or the config file, must not turn a desaturation
into zero alarms.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.alarms.profile import default_profile_text
from monitor.cli import build_parser, main, make_recorder
from monitor.store import Store
from tests.conftest import ADMIN_SECRET, NURSE_SECRET

PLAN = "baseline:2,infusion:25,recovery:2"


def _evil(tmp_path: Path) -> Path:
    # The profile's own sense checks let a high rule be switched off when [profile] says so: the
    # approval is what stops it.
    allow = 'name = "default"\nallow_disabled = ["spo2_low_severe"]'
    text = default_profile_text().replace('name = "default"', allow, 1)
    for rule in ("spo2_low", "spo2_low_severe"):
        text = text.replace(f"[rules.{rule}]\n", f"[rules.{rule}]\nenabled = false\n", 1)
    path = tmp_path / "evil.toml"
    path.write_text(text)
    return path


def _clinic(tmp_path: Path) -> Path:
    """A legitimate clinic profile: SpO2 low a little tighter."""
    text = default_profile_text().replace('name = "default"', 'name = "north clinic"', 1)
    text = text.replace("below = 92", "below = 93", 1)
    path = tmp_path / "clinic.toml"
    path.write_text(text)
    return path


def _approve(profile: Path, name: str, db: Path, user: str, *extra: str, out: io.StringIO | None = None) -> int:
    """``profiles approve`` from the command line; its exit status."""
    command = ["profiles", "approve", str(profile), "--name", name, "--db", str(db), "--user", user, *extra]
    return main(command, out=io.StringIO() if out is None else out)


def _record(db: Path, *extra: str) -> str:
    out = io.StringIO()
    code = main(["record", "--db", str(db), "--speed", "max", "--scenario", "desaturation", "--plan", PLAN,
                 "--quiet", *extra], out=out)
    assert code == 0, out.getvalue()
    return out.getvalue()


def _spo2_alarms(db: Path) -> list[Any]:
    with Store(db, readonly=True) as store:
        [session] = store.sessions()
        return [a for a in store.alarms(session.id) if a.parameter == "spo2" and a.kind == "physiological"]


def _technical(db: Path, condition: str) -> list[Any]:
    with Store(db, readonly=True) as store:
        [session] = store.sessions()
        return [a for a in store.alarms(session.id) if a.condition == condition]


@pytest.mark.parametrize("how", ["flag", "environment", "config"])
def test_an_unapproved_profile_never_switches_spo2_alarms_off(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    evil = _evil(tmp_path)
    extra: list[str] = []
    if how == "flag":
        extra = ["--profile", str(evil)]
    elif how == "environment":
        monkeypatch.setenv("INFUSION_MONITOR_PROFILE", str(evil))
    else:
        config = tmp_path / "config.toml"
        config.write_text(f'profile = "{evil}"\n')
        monkeypatch.setenv("INFUSION_MONITOR_CONFIG", str(config))
    text = _record(db_path, *extra)
    assert "not approved by an admin" in text
    assert "alarm profile built-in default (sha256 " in text
    assert _spo2_alarms(db_path), "the desaturation must alarm under the built-in profile"
    [technical] = _technical(db_path, "profile_not_used")
    assert "not approved" in technical.message


def test_an_approved_profile_needs_a_signed_in_account_and_is_shown_by_its_approved_name(
    db_path: Path, tmp_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    accounts_in(db_path)
    clinic = _clinic(tmp_path)
    # A nurse cannot approve.
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    assert _approve(clinic, "North 2026", db_path, "RN") == 1
    assert "only a signed-in admin" in capsys.readouterr().err
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", ADMIN_SECRET)
    out = io.StringIO()
    assert _approve(clinic, "North 2026", db_path, "AD", out=out) == 0
    assert "North 2026 (approved, sha256 " in out.getvalue()
    # Nobody signed in: the built-in profile runs, and says why.
    text = _record(db_path, "--profile", str(clinic))
    assert "needs a signed-in account" in text
    # A nurse signed in: the approved profile runs under its approved name and hash.
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    db2 = tmp_path / "second.db"
    accounts_in(db2)
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", ADMIN_SECRET)
    assert _approve(clinic, "North 2026", db2, "AD") == 0
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    text = _record(db2, "--profile", str(clinic), "--user", "RN")
    assert "alarm profile North 2026 (approved, sha256 " in text
    assert main(["export", "latest", "--db", str(db2), "--format", "json", "--user", "RN"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["session"]["alarm_profile"].startswith("North 2026 (approved, sha256 ")
    # One changed byte and it is another, unapproved content.
    clinic.write_text(clinic.read_text() + "\n# edited\n")
    text = _record(db2, "--profile", str(clinic), "--user", "RN")
    assert "not approved by an admin" in text


def test_weakening_below_the_clinical_floors_needs_the_explicit_confirmation(
    db_path: Path, tmp_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    accounts_in(db_path)
    evil = _evil(tmp_path)
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", ADMIN_SECRET)
    assert _approve(evil, "no SpO2", db_path, "AD") == 1
    assert "spo2_low_severe is switched off" in capsys.readouterr().err
    assert _approve(evil, "no SpO2", db_path, "AD", "--below-floors") == 0
    out = io.StringIO()
    assert main(["profiles", "list", "--db", str(db_path)], out=out) == 0
    assert "BELOW FLOORS" in out.getvalue()


def test_an_approval_written_into_the_database_by_hand_is_not_trusted(
    db_path: Path, tmp_path: Path, accounts_in: Any
) -> None:
    import hashlib
    import sqlite3

    accounts_in(db_path)
    evil = _evil(tmp_path)
    sha = hashlib.sha256(evil.read_text().encode()).hexdigest()
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO profile_approvals (sha256, name, approved_by, approved_at, below_floors, text, mac) "
                 "VALUES (?, 'default', 'AD', 1, 0, '', 'forged')", [sha])
    conn.commit()
    conn.close()
    text = _record(db_path, "--profile", str(evil))
    assert "not approved" in text
    assert _spo2_alarms(db_path)


def _recorder(db: Path, store: Store, *extra: str) -> Any:
    args = build_parser().parse_args(["record", "--db", str(db), "--speed", "max", *extra])
    return make_recorder(args, store)


def _run(recorder: Any, name: str, user: str, **args: Any) -> Any:
    future = recorder.submit(name, user, **args)
    recorder.step()
    return future.exception(0) or future.result(0)


def test_without_the_admin_role_limits_profiles_and_alarms_off_are_refused_at_the_recorder(
    db_path: Path, tmp_path: Path
) -> None:
    with Store(db_path) as store:
        recorder = _recorder(db_path, store)
        recorder.source.open()
        try:
            for name, args in (("set_limit", {"rule": "spo2_low_severe", "limit": 85}),
                               ("alarms_off", {}), ("audio_off", {}),
                               ("load_profile", {"path": str(_clinic(tmp_path))})):
                refused = _run(recorder, name, "RN", role="nurse", **args)
                assert isinstance(refused, ValueError), name
            # An admin still cannot go past a floor at the chair ...
            below = _run(recorder, "set_limit", "AD", role="admin", rule="spo2_low_severe", limit=50)
            assert isinstance(below, ValueError) and "clinical floor" in str(below)
            # ... nor load a profile nobody approved; a change within the floors is allowed.
            unapproved = _run(recorder, "load_profile", "AD", role="admin", path=str(_clinic(tmp_path)))
            assert isinstance(unapproved, ValueError) and "not an approved profile" in str(unapproved)
            ok = _run(recorder, "set_limit", "AD", role="admin", rule="spo2_low_severe", limit=88)
            assert ok["after"] == "spo2 < 88"
        finally:
            recorder.run(until=lambda _r: True)  # one more turn, then close: everything pending is written
        refusals = [r["action"] for r in store.audit_log() if r["action"].endswith("_refused")]
    assert {"set_limit_refused", "alarms_off_refused", "audio_off_refused", "load_profile_refused"} <= set(refusals)
