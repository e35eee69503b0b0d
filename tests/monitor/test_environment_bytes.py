"""An INFUSION_MONITOR_* variable that is not UTF-8 is named; it never costs the recording its readings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, errors="replace", timeout=120,
        env={**os.environ, "HOME": str(tmp_path), **env},
    )


def test_a_profile_variable_that_is_not_utf8_loses_no_reading(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    env = {"INFUSION_MONITOR_PROFILE": os.fsdecode(b"/srv/clinic-\xe9t\xe9.toml")}
    recorded = _run(tmp_path, env, "record", "--driver", "simulated", "--duration", "3", "--db", str(db))
    assert "Traceback" not in recorded.stderr, recorded.stderr[-2000:]
    listed = _run(tmp_path, {}, "sessions", "--db", str(db), "--json")
    (session,) = json.loads(listed.stdout)
    assert session["status"] == "closed"
    exported = _run(tmp_path, {}, "export", "latest", "--db", str(db), "--format", "csv", "--out", "-")
    rows = [line for line in exported.stdout.splitlines()[2:] if line]
    assert len(rows) >= 6


@pytest.mark.parametrize("name", ["SERVER", "PROFILE"])
def test_a_variable_that_is_not_utf8_is_named(tmp_path: Path, name: str) -> None:
    args = ["limits"] if name == "PROFILE" else ["record", "--driver", "simulated", "--duration", "1",
                                                  "--db", str(tmp_path / "monitor.db")]
    done = _run(tmp_path, {f"INFUSION_MONITOR_{name}": os.fsdecode(b"x\xff")}, *args)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"INFUSION_MONITOR_{name}" in done.stderr
