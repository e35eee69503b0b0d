"""A recording run as root on a database that belongs to a normal account, killed; then that account again.

Before, root's lock file was owner-only: the account could not open it to ask whether anyone held it, so
``sessions`` listed the killed session as "recording" until its heartbeat went stale (30 s), and ``--resume`` was
refused with a bare "permission denied" on the lock file, not saying that root made it. Now the lock files are
readable inside their owner-only folder; one an older version left owner-only is refused naming its owner and what
to do. A session closed normally leaves no lock file behind.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.ownership import lock_dir, lock_path
from monitor.store.open_marks import NOTE_NAME
from tests.faults.helpers import REPO_ROOT, CommandLine

needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="needs root, to run as root and as another account")


@pytest.fixture
def account_folder() -> Iterator[tuple[Path, dict[str, str]]]:
    """A folder of the account ``nobody`` (outside the test's root-only temporary folder) with its own home and
    key file; the environment that uses them."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no account 'nobody'")
    base = Path(tempfile.mkdtemp(prefix="im-accounts-"))
    try:
        base.chmod(0o755)
        folder = base / "nb"
        folder.mkdir()
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        env = {"HOME": str(folder / "home"), "XDG_DATA_HOME": str(folder / "home" / "data"),
               "XDG_CONFIG_HOME": str(folder / "home" / "config"),
               "INFUSION_MONITOR_KEY_FILE": str(folder / "keys" / "monitor.key")}
        yield folder, env
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _as_nobody(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=dict(os.environ, **env), user="nobody", group="nogroup", timeout=120)


@pytest.fixture
def killed_root_session(account_folder: tuple[Path, dict[str, str]]) -> tuple[Path, str, dict[str, str]]:
    """A database made by ``nobody``, then a recording on it run as root and killed: the database, that session's
    id, and the environment of ``nobody``."""
    folder, env = account_folder
    db = folder / "monitor.db"
    made = _as_nobody(env, "record", "--db", str(db), "--speed", "max", "--duration", "1", "--quiet")
    assert made.returncode == 0, made.stdout + made.stderr
    root_run = CommandLine("record", "--db", str(db), "--speed", "30", env=env)
    session_id = root_run.wait_for("session ", timeout=30).split()[1]
    root_run.wait_for("t+", timeout=30)
    root_run.kill()
    return db, session_id, env


def _status(env: dict[str, str], db: Path, session_id: str) -> str:
    listed = _as_nobody(env, "sessions", "--db", str(db), "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    return str(next(s["status"] for s in json.loads(listed.stdout) if s["id"] == session_id))


@needs_root
def test_the_account_sees_roots_killed_session_unfinished_at_once_and_resumes_it(
    killed_root_session: tuple[Path, str, dict[str, str]]
) -> None:
    db, session_id, env = killed_root_session
    assert _status(env, db, session_id) == "unfinished"  # at once, not after the 30 s heartbeat
    resumed = _as_nobody(env, "record", "--db", str(db), "--resume", session_id[:8], "--speed", "max",
                         "--duration", "1", "--quiet")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _status(env, db, session_id) == "closed"
    assert not lock_path(db, session_id).exists()  # closed: its lock file went with it
    assert lock_dir(db).stat().st_uid == pwd.getpwnam("nobody").pw_uid


@needs_root
def test_a_lock_file_the_account_cannot_read_is_refused_naming_its_owner(
    killed_root_session: tuple[Path, str, dict[str, str]]
) -> None:
    db, session_id, env = killed_root_session
    lock = lock_path(db, session_id)
    lock.chmod(0o600)  # as a run of an older version left it
    refused = _as_nobody(env, "record", "--db", str(db), "--resume", session_id[:8], "--duration", "1")
    assert refused.returncode == 1
    assert (f"session {session_id[:8]} cannot be taken over by this account: {lock} belongs to root (a recording "
            f"run as root made it) and this account may not read it. If no recording of it runs any more, remove "
            f"{lock} (as root, or as the owner of its folder) and try again, or resume it as root") in refused.stderr


def test_a_session_closed_normally_leaves_no_lock_file(db_path: Path) -> None:
    run = CommandLine("record", "--db", str(db_path), "--speed", "max", "--duration", "1", "--quiet")
    assert run.finish() == 0, run.output()
    # No session's lock file nor open store's mark is left; only the note of how the last store left the file.
    assert [p.name for p in lock_dir(db_path).iterdir()] == [NOTE_NAME]
