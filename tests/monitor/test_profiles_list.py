"""`infusion-monitor profiles list` as the README shows it: `[--db PATH] [--user ADMIN]`, and the names of
admins are not told to anyone at the keyboard (as `users list`)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from monitor.alarms.profile import default_profile_text
from monitor.cli import main
from tests.conftest import ADMIN_SECRET


def _approved(db_path: Path, tmp_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts_in(db_path)
    clinic = tmp_path / "clinic.toml"
    clinic.write_text(default_profile_text().replace("below = 92", "below = 93", 1))
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", ADMIN_SECRET)
    assert main(["profiles", "approve", str(clinic), "--name", "North 2026", "--db", str(db_path),
                 "--user", "AD"], out=io.StringIO()) == 0


def test_profiles_list_takes_the_admins_user_as_the_readme_shows(
    db_path: Path, tmp_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _approved(db_path, tmp_path, accounts_in, monkeypatch)
    out = io.StringIO()
    try:
        code = main(["profiles", "list", "--db", str(db_path), "--user", "AD"], out=out)
    except SystemExit as exc:  # argparse: "unrecognized arguments: --user AD"
        code = int(exc.code or 0)
    assert code == 0
    assert "North 2026" in out.getvalue()
    assert "approved by AD" in out.getvalue()


def test_profiles_list_without_a_sign_in_does_not_name_the_admins(
    db_path: Path, tmp_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _approved(db_path, tmp_path, accounts_in, monkeypatch)
    monkeypatch.delenv("INFUSION_MONITOR_SECRET")
    out = io.StringIO()
    assert main(["profiles", "list", "--db", str(db_path)], out=out) == 0
    assert "North 2026" in out.getvalue()
    assert "AD" not in out.getvalue().split()
