"""A database this account may not read is one line naming it, not a traceback (a second user at the computer)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.helpers import REPO_ROOT


def test_a_database_in_a_folder_this_account_cannot_enter_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "private"
    folder.mkdir()
    command = [sys.executable, "-m", "monitor.cli", "sessions", "--db", str(folder / "monitor.db")]
    if os.geteuid() == 0:  # root enters every folder: the command runs as another account
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("needs runuser to act as another account")
        tmp_path.chmod(0o755)
        folder.chmod(0o700)
        command = [runuser, "-u", "nobody", "--", "env", "-i", "HOME=/tmp", "PATH=/usr/bin:/bin", *command]
    else:
        folder.chmod(0o000)
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60, check=False)
    finally:
        folder.chmod(0o700)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"infusion-monitor: error: permission denied: {folder / 'monitor.db'} (this account may not read or write "
        "it: run as the account the monitor records under, or ask the clinic's IT for access)")
