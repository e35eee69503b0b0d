"""An argument that is not UTF-8 (typed on a Latin-1 terminal, pasted from a file) is one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BAD = os.fsdecode(b"caf\xe9")  # Latin-1 "café" as it arrives on a UTF-8 system


@pytest.mark.parametrize(
    "args",
    [
        ["course", BAD],
        ["export", BAD, "--format", "csv"],
        ["record", "--driver", "simulated", "--duration", "1", "--nurse", BAD],
        ["record", "--driver", "simulated", "--duration", "1", "--profile", BAD],
    ],
    ids=["course-mrn", "export-id", "record-nurse", "record-profile"],
)
def test_an_argument_that_is_not_utf8_is_refused_without_a_traceback(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "monitor.db"
    setup = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "record", "--driver", "simulated", "--duration", "1", "--db", str(db)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)},
    )
    assert setup.returncode == 0, setup.stderr
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args, "--db", str(db)],
        capture_output=True, text=True, errors="replace", timeout=120, env={**os.environ, "HOME": str(tmp_path)},
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode != 0
    assert "UTF-8" in done.stderr
