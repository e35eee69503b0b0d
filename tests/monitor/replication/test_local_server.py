"""The local server's own safety: who can reach its superuser, which folders it touches, which logins it changes."""

from __future__ import annotations

import io
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from monitor import server as local_server
from monitor.cli import main
from monitor.replication import schema
from tests.conftest import Clinic

as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the server runs under its own account only for root"
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _as_nobody(code: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as the unprivileged account ``nobody``, from this checkout."""
    root = Path(__file__).resolve().parents[3]
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                          cwd=root, user="nobody", group="nogroup", extra_groups=[], env={"PYTHONPATH": str(root)})


def test_the_superuser_socket_is_closed_to_other_accounts(pg_server: local_server.LocalServer) -> None:
    # The administrator is trusted on this socket: its folder and the socket itself are the server account's alone.
    assert _mode(pg_server.socket_dir) == 0o700
    assert _mode(pg_server.socket_dir / f".s.PGSQL.{pg_server.port}") == 0o700
    with local_server.admin_connection(pg_server) as conn:
        assert conn.execute("SELECT usesuper FROM pg_user WHERE usename = current_user").fetchone() == (True,)


@as_root
def test_another_local_account_cannot_become_the_superuser(pg_server: local_server.LocalServer) -> None:
    data_mode = _mode(pg_server.data)
    pg_server.data.chmod(0o755)  # as `server start` made a --data folder before it closed it
    try:
        tried = _as_nobody(f"import psycopg; psycopg.connect({pg_server.admin_url()!r}).close(); print('connected')")
        assert tried.returncode != 0 and "connected" not in tried.stdout, tried.stdout
        assert "Permission denied" in tried.stderr, tried.stderr
        # The program's own commands say who may administer the server instead of libpq's socket error.
        said = _as_nobody(
            "from pathlib import Path\nfrom monitor import server\n"
            f"running = server.LocalServer(Path({str(pg_server.data)!r}), '127.0.0.1', {pg_server.port}, 0)\n"
            "try:\n    server.admin_connection(running)\nexcept server.ServerError as exc:\n    print(exc)\n"
        )
        assert f"only the account running the server ({local_server.SYSTEM_USER}) or root" in said.stdout, said
    finally:
        pg_server.data.chmod(data_mode)


def test_a_server_made_with_an_open_socket_folder_has_it_closed_at_its_next_start() -> None:
    folder = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-socket-"))
    try:
        local_server.start(folder)
        local_server.stop(folder)
        (folder / "socket").chmod(0o755)  # as servers made before the folder was closed have it
        again = local_server.start(folder)
        assert _mode(again.socket_dir) == 0o700
        assert _mode(again.socket_dir / f".s.PGSQL.{again.port}") == 0o700
    finally:
        local_server.remove(folder)


def test_the_server_folder_its_log_and_its_settings_are_owner_only_whatever_the_umask() -> None:
    parent = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-umask-"))
    parent.chmod(0o711)  # as root the server's account passes through to the folder made in it
    data = parent / "server"
    umask = os.umask(0o002)  # a group-writable umask, as on a shared clinic computer
    try:
        local_server.start(data)
        made = {path.name: _mode(path) for path in (data, data / "server.log", data / "server.json")}
        local_server.stop(data)
        # A server whose folder and files were left open by an earlier version has them closed at its next start.
        for path, mode in ((data, 0o775), (data / "server.log", 0o664), (data / "server.json", 0o664)):
            path.chmod(mode)
        local_server.start(data)
        again = {path.name: _mode(path) for path in (data, data / "server.log", data / "server.json")}
        log_owner = (data / "server.log").stat().st_uid
    finally:
        os.umask(umask)
        local_server.remove(data)
        shutil.rmtree(parent, ignore_errors=True)
    assert made == again == {"server": 0o700, "server.log": 0o600, "server.json": 0o600}, (made, again)
    if os.geteuid() == 0:  # PostgreSQL writes its log as its own account: the log is that account's alone
        assert log_owner == pwd.getpwnam(local_server.SYSTEM_USER).pw_uid


def _log_holding(folder: Path, text: str) -> list[Path]:
    """The server's log files once one holds ``text`` (the collector writes a moment after the statement)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        files = sorted(folder.iterdir())
        if any(text in path.read_text(errors="replace") for path in files):
            return files
        time.sleep(0.05)
    raise AssertionError(f"no log file in {folder} holds {text!r}")


def test_the_server_logs_into_a_file_a_weekday_rotated_by_its_own_collector_owner_only() -> None:
    """PostgreSQL's logging collector writes ``DATA/log/server-<weekday>.log`` (0600 whatever the umask) and moves
    to the next day's name at midnight, emptying what it held a week before: seven files at most. Before, it wrote
    everything into one ``server.log`` that grew for as long as the server ran (about 65 B/s while a chair's
    batches were refused)."""
    parent = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-log-"))
    parent.chmod(0o711)
    data = parent / "server"
    umask = os.umask(0o002)
    try:
        server = local_server.start(data)
        shout = "DO $$BEGIN FOR i IN 1..100 LOOP RAISE LOG '{} %', repeat('x', 2000); END LOOP; END$$"
        with local_server.admin_connection(server) as conn:
            conn.execute(shout.format("first-200-KB"))
            first = _log_holding(data / "log", "first-200-KB")
            conn.execute("SELECT pg_rotate_logfile()")
            conn.execute(shout.format("after-a-rotation"))
            second = _log_holding(data / "log", "after-a-rotation")
            settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                        for name in ("log_filename", "log_rotation_age", "log_truncate_on_rotation")}
        modes = {path.name: _mode(path) for path in (data / "log", *second)}
        owners = {path.stat().st_uid for path in second}
        early = (data / "server.log").read_text(errors="replace")
    finally:
        os.umask(umask)
        local_server.remove(data)
        shutil.rmtree(parent, ignore_errors=True)
    # A rotation takes the day's name again: one file a weekday, however much is written or however often rotated.
    assert first == second and len(second) == 1, second
    assert re.fullmatch(r"server-(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\.log", second[0].name), second
    assert settings == {"log_filename": "server-%a.log", "log_rotation_age": "1d", "log_truncate_on_rotation": "on"}
    assert modes == {"log": 0o700, second[0].name: 0o600}, modes
    assert "first-200-KB" not in early and "after-a-rotation" not in early
    if os.geteuid() == 0:
        assert owners == {pwd.getpwnam(local_server.SYSTEM_USER).pw_uid}


@as_root
def test_a_data_folder_behind_a_private_folder_is_refused_and_the_folder_left_closed() -> None:
    private = Path(tempfile.mkdtemp(prefix="infusion-monitor-private-"))
    try:
        assert _mode(private) == 0o700
        with pytest.raises(local_server.ServerError) as refused:
            local_server.init(private / "clinic" / "server")
        message = str(refused.value)
        assert f"{private} (mode 700) does not let it through" in message, message
        assert f"setfacl -m u:{local_server.SYSTEM_USER}:x {private}" in message, message
        assert _mode(private) == 0o700 and list(private.iterdir()) == []
    finally:
        shutil.rmtree(private, ignore_errors=True)


@as_root
def test_binaries_behind_a_private_folder_are_refused_and_the_folder_left_closed(tmp_path: Path) -> None:
    private = Path(tempfile.mkdtemp(prefix="infusion-monitor-private-bin-"))
    try:
        (private / "bin").symlink_to(local_server.pgserver_binaries(), target_is_directory=True)
        data = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-never-"))
        with pytest.raises(local_server.ServerError, match=f"PostgreSQL programs in {private / 'bin'}.*{private} "):
            local_server.init(data, private / "bin")
        assert _mode(private) == 0o700 and not (data / "pgdata").exists()
        shutil.rmtree(data)
    finally:
        shutil.rmtree(private, ignore_errors=True)


@as_root
def test_binaries_that_do_not_exist_are_named() -> None:
    data = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-never-"))
    try:
        with pytest.raises(local_server.ServerError, match="/nowhere/bin/initdb does not exist"):
            local_server.init(data, Path("/nowhere/bin"))
        assert list(data.iterdir()) == []
    finally:
        shutil.rmtree(data)


@as_root
def test_a_reachable_parent_keeps_its_mode() -> None:
    parent = Path(tempfile.mkdtemp(prefix="infusion-monitor-searchable-"))
    parent.chmod(0o711)  # search only: the account passes through, nobody lists it
    try:
        local_server.init(parent / "server")
        assert (parent / "server" / "pgdata" / "PG_VERSION").exists()
        assert _mode(parent) == 0o711
        assert _mode(parent / "server" / "socket") == 0o700
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_a_reader_named_like_an_existing_chair_is_refused_and_the_chair_unchanged(clinic: Clinic) -> None:
    chair_url = clinic.role("chair", "chair_three")
    with psycopg.connect(clinic.admin_url, autocommit=True) as conn:
        with pytest.raises(ValueError, match="'chair_three' is already a chair's login on this server"):
            schema.create_reader_role(conn, "chair_three", "another-password")
        groups = conn.execute(
            "SELECT ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'chair_three')"
        ).fetchone()
    assert groups == (["im_chair"],)
    with psycopg.connect(chair_url) as chair:  # its own password still works
        assert chair.execute("SELECT current_user").fetchone() == ("chair_three",)


def test_a_chair_named_like_a_reader_or_the_superuser_is_refused(clinic: Clinic) -> None:
    clinic.role("reader", "station_two")
    with psycopg.connect(clinic.admin_url, autocommit=True) as conn:
        with pytest.raises(ValueError, match="'station_two' is already a station's or reviewer's login"):
            schema.create_chair_role(conn, "station_two", "x")
        for own in ("postgres", "im_reader"):
            with pytest.raises(ValueError, match=f"'{own}' is already a role of the server's own"):
                schema.create_chair_role(conn, own, "x")


def test_adding_a_chair_again_gives_it_a_new_password(clinic: Clinic) -> None:
    clinic.role("chair", "chair_again")
    passfile = clinic.folder / "chair_again.pgpass"
    old = clinic.folder / "old.pgpass"
    old.write_text(passfile.read_text())
    old.chmod(0o600)
    url = clinic.role("chair", "chair_again")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("chair_again",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url.replace(str(passfile), str(old))).close()


def test_the_command_says_why_a_login_of_another_kind_is_refused(
    pg_server: local_server.LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(pg_server.data)
    assert main(["server", "add-chair", "chair_cmd_kind", "--data", data], io.StringIO()) == 0
    assert main(["server", "add-reader", "chair_cmd_kind", "--data", data], io.StringIO()) != 0
    assert "'chair_cmd_kind' is already a chair's login on this server" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["reader", "chair"])
def test_migrate_with_a_login_that_is_not_the_owner_names_the_login_and_the_owner(
    clinic: Clinic, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A station's or a chair's URL given to `server migrate`: the server's "permission denied for schema public"
    with its CREATE TABLE statement was all it said."""
    login = f"{kind}_migrates"
    url = clinic.role(kind, login)
    out = io.StringIO()
    assert main(["server", "migrate", "--url", url], out) == 1
    err = capsys.readouterr().err
    assert (f"the login {login} may not change this database's schema (permission denied for schema public): "
            "'server migrate' runs as the database's owner, postgres, or a superuser: give the owner's URL with "
            "--url (or, on the local server's computer, --data DIR)") in err, err
    assert "CREATE TABLE" not in err and out.getvalue() == "", (err, out.getvalue())
    # The owner's URL migrates, as before.
    assert main(["server", "migrate", "--url", clinic.admin_url], io.StringIO()) == 0
