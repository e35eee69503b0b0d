"""A local PostgreSQL for a small clinic, a demo or the tests (``infusion-monitor server start --data DIR``).

By default it runs the PostgreSQL 16 binaries shipped by the ``pgserver`` package (PyPI), so nothing
has to be installed system-wide; those are built without OpenSSL, so for TLS it runs the
distribution's PostgreSQL instead (``binaries=``, e.g. :func:`system_binaries`). A clinic with its
own PostgreSQL server skips this module and points the chairs at it instead (see the README). The
folder holds ``pgdata/`` (the cluster), ``socket/`` (the administrator's Unix socket), ``log/`` (the server's log,
a file a weekday), ``server.log`` (what it says before its log files open) and ``server.json`` (the port and the
binaries the cluster was made with).

Access rules (``pg_hba.conf``): the administrator (``postgres``) connects only through the Unix
socket in ``socket/``, a folder only the account running the server (and root) can enter, and a
socket only that account can open; chairs, stations and reviewers connect over TCP on 127.0.0.1
(or the address given) with a password (SCRAM). PostgreSQL refuses to run as root, so when started
by root the cluster belongs to a dedicated system account, :data:`SYSTEM_USER`; that account must be
able to reach the folder and the binaries, and nothing here opens a folder for it (see
:func:`_require_reachable`).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg

from monitor.replication import schema, tls

SYSTEM_USER = "infusion-pg"
DATABASE = "infusion_monitor"
ADMIN = "postgres"
START_TIMEOUT_S = 60
#: ``socket/`` and the socket in it: the superuser is trusted there, so only the server's account may enter.
SOCKET_MODE = 0o700
#: The server's folder: its log and the logins' password files are the clinic's business, not every local user's.
FOLDER_MODE = 0o700
#: ``server.log``, ``server.json`` and the password files, whatever the umask.
FILE_MODE = 0o600
#: Where PostgreSQL's logging collector writes, one file a weekday (``DATA/log/server-Mon.log``…): a week of logs at
#: most. Its own collector rotates them (it writes them; nothing of ours runs beside a server up for months): at
#: midnight it moves to the next day's name and empties what that name held a week ago. Its size-based rotation is
#: left off: it only ever appends to a name the pattern gives again, so it could not keep the count of files fixed.
LOG_FOLDER = "log"
LOG_FILENAME = "server-%a.log"


class ServerError(Exception):
    """The local server cannot be set up, started or stopped; the message says why."""


@dataclass(frozen=True, slots=True)
class LocalServer:
    """A running local PostgreSQL."""

    data: Path
    host: str
    port: int
    pid: int
    binaries: Path | None = None

    @property
    def socket_dir(self) -> Path:
        """Where the administrator's Unix socket lives."""
        return self.data / "socket"

    def admin_url(self, database: str = DATABASE) -> str:
        """Superuser connection through the Unix socket (never over the network)."""
        return f"postgresql://{ADMIN}@/{database}?host={self.socket_dir}&port={self.port}"

    def url(self, role: str, database: str = DATABASE) -> str:
        """A network URL for a chair, station or reviewer role (the password comes from a file or the environment)."""
        return f"postgresql://{role}@{self.host}:{self.port}/{database}"


def pgserver_binaries() -> Path:
    """The PostgreSQL binaries of the ``pgserver`` package (built without TLS)."""
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR when the package is imported in a bare environment.
        warnings.simplefilter("ignore")
        try:
            from pgserver._commands import POSTGRES_BIN_PATH
        except ImportError as exc:
            raise ServerError(
                "the local server needs the 'pgserver' package: pip install 'infusion-monitor[server]' "
                "(or use the clinic's own PostgreSQL with --server)"
            ) from exc
    return Path(POSTGRES_BIN_PATH)


def system_binaries() -> Path | None:
    """The newest PostgreSQL server installed by the distribution (Debian/Ubuntu: /usr/lib/postgresql/N/bin)."""
    found: list[tuple[int, Path]] = []
    for folder in Path("/usr/lib/postgresql").glob("*/bin"):
        if folder.parent.name.isdigit() and (folder / "postgres").exists() and (folder / "initdb").exists():
            found.append((int(folder.parent.name), folder))
    return max(found)[1] if found else None


def _recorded_binaries(data: Path) -> Path | None:
    """The binaries a cluster in ``data`` was made with (a cluster only runs under its own major version)."""
    info_file = data / "server.json"
    if not info_file.exists():
        return None
    recorded = json.loads(info_file.read_text()).get("binaries")
    return Path(recorded) if recorded else None


def _run_as() -> str | None:
    """The system account the cluster runs under (None: the current, non-root, user)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


def _can_reach(path: Path, user: str) -> bool:
    """Whether ``user`` can search every folder down to ``path`` (and execute it, for a program).

    Asked of the kernel as that account, so access control lists and groups count as they will for the server.
    """
    entry = pwd.getpwnam(user)
    done = subprocess.run(["/bin/sh", "-c", 'test -x "$1"', "sh", str(path)], capture_output=True, check=False,
                          user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    return done.returncode == 0


def _require_reachable(path: Path, user: str, what: str) -> None:
    """Refuse, naming the folder that stops it, when ``user`` cannot reach ``path`` (``what`` says what it serves).

    Opening the folder would be easy and wrong: a parent such as /root is private for a reason, so the
    person starting the server chooses how to give access (or another folder).
    """
    if not path.exists():
        raise ServerError(f"{path} does not exist ({what})")
    if _can_reach(path, user):
        return
    blocking = next((folder for folder in [*reversed(path.parents), path] if not _can_reach(folder, user)), path)
    mode = stat.S_IMODE(blocking.stat().st_mode)
    raise ServerError(
        f"the server runs as the system account '{user}', which cannot reach {what}: {blocking} (mode {mode:o}) "
        f"does not let it through, and this program does not open it. Choose a folder that account can reach "
        f"(e.g. under /srv or /var/lib), or let that account alone through: setfacl -m u:{user}:x {blocking}"
    )


def _prepare_folders(data: Path, user: str | None) -> None:
    """Create ``data`` with ``socket/`` and ``pgdata/``, owned by the server's account when it is not the caller."""
    created = [folder for folder in [data, *data.parents] if not folder.exists()]
    if user is not None:
        # The nearest existing folder must already be reachable: this program does not open it.
        _require_reachable((created[-1] if created else data).parent, user, f"the server's folder {data}")
    data.mkdir(parents=True, exist_ok=True)
    if user is not None:
        for folder in created[1:]:
            # Made just now and holding only the server's folder; search, not read, under a strict umask.
            folder.chmod(stat.S_IMODE(folder.stat().st_mode) | stat.S_IXOTH)
    (data / "socket").mkdir(mode=SOCKET_MODE, exist_ok=True)
    (data / "pgdata").mkdir(exist_ok=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (data, data / "socket", data / "pgdata"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    (data / "socket").chmod(SOCKET_MODE)
    (data / "pgdata").chmod(0o700)
    data.chmod(FOLDER_MODE)


def _owner_only(path: Path, user: str | None = None) -> Path:
    """``path`` made (if missing) readable and writable by its owner only, whatever the umask; owned by ``user``
    (the server's account, which writes it) when given."""
    path.touch(mode=FILE_MODE, exist_ok=True)
    path.chmod(FILE_MODE)
    return _given_to(path, user)


def _given_to(path: Path, user: str | None) -> Path:
    """``path``, owned by the server's account ``user`` (and its group) when given."""
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _log_folder(data: Path, user: str | None) -> Path:
    """``DATA/log``, owner-only and the server's account's, where its logging collector writes."""
    folder = data / LOG_FOLDER
    folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
    folder.chmod(FOLDER_MODE)
    return _given_to(folder, user)


def _log_options(folder: Path) -> str:
    """The ``postgres -c`` settings for its logging collector: a file a weekday in ``folder``, owner-only.

    Given at every start rather than written into ``postgresql.conf``, so a cluster made by an earlier version,
    whose one ``server.log`` grew without end, rotates too.
    """
    settings = {"logging_collector": "on", "log_directory": str(folder), "log_filename": LOG_FILENAME,
                "log_file_mode": f"{FILE_MODE:04o}", "log_rotation_age": "1d", "log_rotation_size": "0",
                "log_truncate_on_rotation": "on"}
    return " ".join(f"-c {name}={value}" for name, value in settings.items())


def _pg(tool: str, args: list[str], user: str | None, binaries: Path | None,
        timeout: float = START_TIMEOUT_S) -> str:
    command = [str((binaries or pgserver_binaries()) / tool), *args]
    try:
        # The account's own group and no others: root's groups would otherwise come along (and, through
        # a folder's group bits, deny what its "other" bits allow).
        identity: dict[str, object] = {}
        if user is not None:
            identity = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                              **identity)  # type: ignore[call-overload]
    except subprocess.TimeoutExpired as exc:
        raise ServerError(f"{tool} did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise ServerError(f"{tool} failed: {(done.stderr or done.stdout).strip()}")
    return str(done.stdout)


def _tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log file, indented (or why it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"  (cannot read it: {exc.strerror or exc})"
    return "\n".join(f"  {line}" for line in text.splitlines()[-lines:]) or "  (empty)"


def _last_written(log_file: Path, folder: Path) -> Path:
    """Whichever of ``log_file`` and the log files in ``folder`` was written last: the postmaster opens its
    collector's files before it binds its port, so a port in use is said there, not in ``server.log``."""
    with contextlib.suppress(OSError):
        return max([log_file, *folder.glob("server-*.log")], key=lambda path: path.stat().st_mtime_ns)
    return log_file


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _hba(tls: bool = False) -> str:
    network = "hostssl" if tls else "host"
    return (
        "# The administrator only through the Unix socket in DATA/socket (0700: the server's account and root).\n"
        f"local all {ADMIN} trust\n"
        "local all all scram-sha-256\n"
        "# Chairs, stations and reviewers: password (SCRAM); only over TLS once the server has a certificate.\n"
        f"{network} all all 127.0.0.1/32 scram-sha-256\n"
        f"{network} all all ::1/128 scram-sha-256\n"
    )


def tls_built_in(binaries: Path | None = None) -> bool:
    """Whether the PostgreSQL binaries (default: pgserver's) can speak TLS at all."""
    configure = _pg("pg_config", ["--configure"], None, binaries, timeout=30)
    return "--with-openssl" in configure or "--with-ssl=openssl" in configure


def enable_tls(
    data: Path, *, certificate: Path | None = None, key: Path | None = None, authority: Path | None = None
) -> Path:
    """Give the local server a certificate and accept network logins over TLS only (``hostssl``).

    With ``certificate`` and ``key`` (PEM, e.g. issued by the clinic's authority, whose certificate is
    ``authority``) those are used; without them a new authority is made here and signs a certificate
    for 127.0.0.1, ::1 and localhost. Returns the authority's certificate, which clients name as
    their trusted root (``?sslmode=verify-full&sslrootcert=…``), copied to ``DATA/server-ca.crt``.
    """
    data = data.resolve()
    pgdata = data / "pgdata"
    if not (pgdata / "PG_VERSION").exists():
        raise ServerError(f"no server in {data}; start it once first")
    binaries = _recorded_binaries(data)
    if not tls_built_in(binaries):
        raise ServerError(
            "these PostgreSQL binaries were built without TLS (pgserver's are); start the server with the "
            "distribution's PostgreSQL (server start --binaries DIR), or use the clinic's own server"
        )
    if (certificate is None) != (key is None):
        raise ServerError("a server certificate needs both its certificate and its key file")
    if certificate is not None and key is not None:
        cert_pem, key_pem = certificate.read_bytes(), key.read_bytes()
        ca_pem = (authority or certificate).read_bytes()
    else:
        made = tls.new_authority()
        issued = tls.issue_server_certificate(made)
        cert_pem, key_pem, ca_pem = issued.certificate_pem, issued.key_pem, made.certificate_pem
    cert_file, key_file = pgdata / "server.crt", pgdata / "server.key"
    key_file.touch(mode=0o600, exist_ok=True)
    key_file.chmod(0o600)
    key_file.write_bytes(key_pem)
    cert_file.write_bytes(cert_pem)
    user = _run_as()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (cert_file, key_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    (pgdata / "pg_hba.conf").write_text(_hba(tls=True))
    with (pgdata / "postgresql.conf").open("a") as conf:
        conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
    public = authority_file(data)
    public.write_bytes(ca_pem)
    public.chmod(0o644)
    if running(data) is not None:
        _pg("pg_ctl", ["-D", str(pgdata), "-w", "reload"], user, binaries)
    return public


def authority_file(data: Path) -> Path:
    """Where ``server tls`` puts the certificate clients trust (``sslrootcert``); it exists once TLS is on."""
    return data.resolve() / "server-ca.crt"


def tls_parameters(server: LocalServer) -> str:
    """``sslmode=verify-full&sslrootcert=…`` once the server has TLS, else empty.

    Without ``sslmode`` libpq would "prefer" TLS: encrypted, but any certificate accepted.
    """
    authority = authority_file(server.data)
    return f"sslmode=verify-full&sslrootcert={authority}" if authority.exists() else ""


def client_url(server: LocalServer, role: str, password_file: Path) -> str:
    """The URL a chair or reader uses: its password file, and full verification once the server has TLS."""
    checked = tls_parameters(server)
    return f"{server.url(role)}?passfile={password_file}{'&' + checked if checked else ''}"


def init(data: Path, binaries: Path | None = None) -> None:
    """Create the cluster in ``data`` if it does not exist yet (with ``binaries``, default pgserver's)."""
    data = data.resolve()
    pgdata = data / "pgdata"
    if (pgdata / "PG_VERSION").exists():
        return
    user = _run_as()
    if user is not None:
        programs = binaries or pgserver_binaries()
        _require_reachable(programs / "initdb", user, f"the PostgreSQL programs in {programs}")
    _prepare_folders(data, user)
    _pg("initdb", ["-D", str(pgdata), "-U", ADMIN, "--auth=trust", "--encoding=UTF8", "--no-instructions"], user,
        binaries)
    (pgdata / "pg_hba.conf").write_text(_hba())
    with (pgdata / "postgresql.conf").open("a") as conf:
        conf.write("\n# Infusion Monitor\npassword_encryption = 'scram-sha-256'\nfsync = on\nmax_connections = 300\n")


def running(data: Path) -> LocalServer | None:
    """The server running on ``data``, if any."""
    data = data.resolve()
    info_file = data / "server.json"
    pid = _postmaster_pid(data)
    if not info_file.exists() or pid is None:
        return None
    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError):
        return None
    recorded = info.get("binaries")
    return LocalServer(data, str(info["host"]), int(info["port"]), pid, Path(recorded) if recorded else None)


def start(
    data: Path, *, host: str = "127.0.0.1", port: int | None = None, binaries: Path | None = None
) -> LocalServer:
    """Start (initialising if needed) the local server and make sure the clinic's database is migrated.

    ``binaries`` is the folder of the PostgreSQL programs for a new cluster (default: pgserver's); an
    existing cluster always runs under the binaries it was made with.
    """
    data = data.resolve()
    already = running(data)
    if already is not None:
        return already
    if (data / "pgdata" / "PG_VERSION").exists():
        made_with = _recorded_binaries(data)
        if binaries is not None and binaries != (made_with or pgserver_binaries()):
            raise ServerError(
                f"the server in {data} was made with the binaries in {made_with or pgserver_binaries()} "
                f"and runs only under them, not {binaries}"
            )
        binaries = made_with
    init(data, binaries)
    user = _run_as()
    if port is None:
        previous = data / "server.json"
        port = int(json.loads(previous.read_text())["port"]) if previous.exists() else _free_port(host)
    # PostgreSQL appends to this log as the server's account what it says before its logging collector takes over
    # (a port in use…): made here, owner-only, for that account (root reads it anyway, to show a failed start's last
    # lines). Everything after goes to the weekday files in DATA/log.
    log_file = _owner_only(data / "server.log", user)
    # A server made before the socket folder was closed gets it closed now; the socket file too (default 0777); so
    # do the server's folder and its log, made readable to every local account before.
    (data / "socket").chmod(SOCKET_MODE)
    data.chmod(FOLDER_MODE)
    options = (f"-h {host} -p {port} -k {data / 'socket'} -c unix_socket_permissions={SOCKET_MODE:04o} "
               f"{_log_options(_log_folder(data, user))}")
    try:
        _pg("pg_ctl", ["-D", str(data / "pgdata"), "-l", str(log_file), "-w", "-t", str(START_TIMEOUT_S),
                       "-o", options, "start"], user, binaries)
    except ServerError as exc:
        # pg_ctl says only "examine the log output": name the log and what it says last (a port in use...).
        said = _last_written(log_file, data / LOG_FOLDER)
        raise ServerError(f"{exc}\nthe server's log, {said}, ends with:\n{_tail(said)}") from None
    try:
        _write_record(data, host, port, binaries)
        server = running(data)
        if server is None:
            raise ServerError(f"the server did not stay up; see {log_file}")
        create_database(server)
    except BaseException as exc:
        # PostgreSQL runs, but the clinic's database is not ready (a full disk: "could not extend file"): stopped
        # again, so that nothing half-made is left running and the next start does the whole of it again.
        stopped = _stop_after_failure(data, user, binaries)
        if not isinstance(exc, Exception):
            raise
        raise ServerError(f"the server started, but the clinic's database could not be made ready: "
                          f"{str(exc).strip() or type(exc).__name__}{stopped}") from None
    return server


def _stop_after_failure(data: Path, user: str | None, binaries: Path | None) -> str:
    """Stop the postmaster of a start that failed, if it runs; what to add to the failure's message. Without
    ``server.json`` (it may be what could not be written), from its pid file."""
    pid = _postmaster_pid(data)
    if pid is None:
        return f"\nPostgreSQL is not running on {data}."
    try:
        _pg("pg_ctl", ["-D", str(data / "pgdata"), "-m", "fast", "-w", "stop"], user, binaries)
    except ServerError as exc:
        return (f"\nPostgreSQL still runs on {data} (pid {pid}) and could not be stopped ({exc}): stop it with "
                f"`infusion-monitor server stop --data {data}`, or `kill {pid}`.")
    return f"\nPostgreSQL was stopped again: nothing is left running on {data}."


def _postmaster_pid(data: Path) -> int | None:
    """The pid of the postmaster running on ``data``, from its pid file; None when none runs."""
    try:
        pid = int((data / "pgdata" / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _write_record(data: Path, host: str, port: int, binaries: Path | None) -> None:
    """Write ``server.json`` (owner-only) through a file beside it, renamed over it once whole: on a full disk the
    earlier record stays as it was, not an empty file the next start cannot read."""
    from monitor.exports.files import write_atomically

    recorded = {"host": host, "port": port, "binaries": str(binaries) if binaries else None}
    write_atomically(data / "server.json", lambda handle: json.dump(recorded, handle), binary=False)


def admin_connection(server: LocalServer, database: str = DATABASE) -> psycopg.Connection:
    """The superuser's connection (autocommit), for the account running the server or root only."""
    _check_administrator(server)
    return psycopg.connect(server.admin_url(database), autocommit=True)


def _check_administrator(server: LocalServer) -> None:
    """Refuse, naming who may, an account that cannot reach the administrator's socket."""
    if not os.access(server.socket_dir, os.X_OK):
        owner = pwd.getpwuid(server.socket_dir.stat().st_uid).pw_name
        raise ServerError(
            f"only the account running the server ({owner}) or root can administer it: {server.socket_dir} "
            "is closed to other accounts"
        )


def create_database(server: LocalServer, database: str = DATABASE) -> None:
    """Create the clinic's database if missing and bring its schema up to date."""
    with admin_connection(server, "postgres") as conn:
        schema.create_database(conn, database)
    with admin_connection(server, database) as conn:
        schema.migrate(conn)


def stop(data: Path, *, mode: str = "fast") -> bool:
    """Stop the server on ``data``; False when none was running (one whose ``server.json`` a failed start could
    not write is found by its pid file)."""
    data = data.resolve()
    server = running(data)
    if server is None and _postmaster_pid(data) is None:
        return False
    binaries = server.binaries if server is not None else _recorded_binaries(data)
    _pg("pg_ctl", ["-D", str(data / "pgdata"), "-m", mode, "-w", "stop"], _run_as(), binaries)
    return True


def kill(data: Path) -> None:
    """Kill the server's processes with SIGKILL (fault injection: a crash, not a shutdown)."""
    server = running(data)
    if server is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(server.pid, signal.SIGKILL)
    # Children (backends) exit once the postmaster is gone; wait until the port is free again.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(server.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)


def add_role(
    server: LocalServer, role: str, *, kind: str, password_file: Path | None = None, database: str = DATABASE,
    restored: bool = False,
) -> Path:
    """Create a chair's (``kind="chair"``) or a reader's (``kind="reader"``) login with a new random password.

    The password is written, as a libpq password file (mode 0600), to ``password_file`` (default
    ``DATA/<role>.pgpass``); point ``PGPASSFILE`` or the URL's ``passfile=`` at it. Returns its path.
    ``restored``: the role may be one a restore made for a dump's grants (without login, in no group).
    """
    password = secrets.token_urlsafe(24)
    with admin_connection(server, database) as conn:
        if kind == "chair":
            schema.create_chair_role(conn, role, password, restored)
        elif kind == "reader":
            schema.create_reader_role(conn, role, password, restored)
        else:
            raise ValueError(f"unknown role kind '{kind}' (chair or reader)")
    path = _owner_only(password_file or server.data / f"{role}.pgpass")
    path.write_text(f"{server.host}:{server.port}:{database}:{role}:{password}\n")
    return path


@dataclass(frozen=True, slots=True)
class Backup:
    """A dump written: where, how large, and what pg_dump said besides (its warnings; empty when none)."""

    path: Path
    size: int
    said: str


def dump_program(server: LocalServer | None) -> Path:
    """pg_dump for ``server`` (the one beside its binaries), or for the clinic's own server the newest of the one on
    PATH and those beside the distribution's and pgserver's server binaries (pg_dump refuses a server newer than
    itself, and dumps any older one)."""
    if server is not None:
        return (server.binaries or pgserver_binaries()) / "pg_dump"
    candidates = [Path(found) for found in [shutil.which("pg_dump")] if found]
    for folder in (system_binaries, pgserver_binaries):
        with contextlib.suppress(ServerError):
            found = folder()
            if found is not None and (found / "pg_dump").exists():
                candidates.append(found / "pg_dump")
    versions = {program: _major_version(program) for program in candidates}
    if not any(versions.values()):
        raise ServerError("no pg_dump found: install PostgreSQL's client programs (e.g. apt-get install "
                          "postgresql-client) or put pg_dump on PATH")
    return max(candidates, key=lambda program: versions[program])


def _major_version(program: Path) -> int:
    """The major version of a PostgreSQL program (``pg_dump (PostgreSQL) 16.2`` -> 16); 0 when it does not run."""
    try:
        said = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=30,
                              check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    words = said.split()
    number = words[2].split(".")[0] if len(words) > 2 else ""
    return int(number) if number.isdigit() else 0


def backup(target: Path, *, data: Path | None = None, url: str | None = None) -> Backup:
    """Dump the clinic's database (the local server on ``data``, or the one at the owner's ``url``) to ``target``.

    pg_dump takes one snapshot, so the dump is consistent while chairs write. It is written to a new file beside
    ``target`` (mode 0600: it holds the clinic's records), read back whole with pg_restore, then renamed to
    ``target``: a failed dump (pg_dump's exit status, or a file pg_restore cannot read) leaves ``target`` as it was.
    """
    from monitor.exports.files import ExportFileError, write_atomically

    server = None
    if url is None:
        if data is None:
            raise ServerError("a backup needs the local server's folder (--data DIR) or the server's URL (--url)")
        server = running(data)
        if server is None:
            raise ServerError(f"no server is running on {data.resolve()}; start it with `infusion-monitor server "
                              "start` first (a backup is taken from the running server)")
        _check_administrator(server)
        url = server.admin_url()
    program = dump_program(server)
    said: list[str] = []

    def dump(handle: object) -> None:
        said.append(_dump_into(program, url, handle))

    try:
        written = write_atomically(target, dump, binary=True)
    except ExportFileError as exc:
        if data is None and "permission denied" in str(exc):
            raise ExportFileError(f"{exc} (a backup reads every table: give the URL of the database's owner or a "
                                  "superuser)") from None
        raise
    return Backup(written, written.stat().st_size, said[0] if said else "")


def _dump_into(program: Path, url: str, handle: object) -> str:
    """Run pg_dump into the open file ``handle``, then check that pg_restore reads the whole archive back; what
    pg_dump said on standard error when it succeeded (its warnings). A failure raises, naming what failed."""
    from monitor.exports.files import ExportFileError

    fileno = handle.fileno()  # type: ignore[attr-defined]
    try:
        done = subprocess.run([str(program), "--format=custom", "--no-password", "--dbname", url],
                              stdout=fileno, stderr=subprocess.PIPE, check=False)
    except OSError as exc:
        raise ExportFileError(f"cannot run {program}: {exc.strerror or exc}; nothing was written") from None
    said = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        raise ExportFileError(f"pg_dump failed (exit status {done.returncode}): {said or 'it said nothing'}; "
                              "nothing was written")
    os.fsync(fileno)
    restore_program = program.with_name("pg_restore")
    # The whole archive read and turned into SQL (thrown away): every table's data is whole and decompresses.
    check = subprocess.run([str(restore_program), "--file=/dev/null", f"/dev/fd/{fileno}"], pass_fds=(fileno,),
                           capture_output=True, check=False)
    if check.returncode != 0:
        raise ExportFileError(f"the dump pg_dump wrote cannot be read back by {restore_program}: "
                              f"{check.stderr.decode('utf-8', 'replace').strip()}; nothing was written")
    return said


@dataclass(frozen=True, slots=True)
class Restored:
    """A new server holding a dump: the server, and each login made for it (name, kind, password file)."""

    server: LocalServer
    logins: list[tuple[str, str, Path]]
    #: Logins of the dump whose names ``server add-chair`` would refuse (made by hand on another server): not made.
    left_out: list[str]


def restore(dump: Path, data: Path, *, host: str = "127.0.0.1", port: int | None = None,
            binaries: Path | None = None) -> Restored:
    """Make a new server in ``data`` (missing or an empty folder) holding the clinic's database from ``dump``.

    A dump holds no roles (they belong to the cluster): each role its grants and owners name is made, the logins
    among them (CONNECT on the database) and every login that wrote as a chair become logins again with new
    passwords (``DATA/<role>.pgpass``), chairs as chairs and the rest as readers. A failure leaves no server: the
    one made here is stopped and its folder emptied.
    """
    data = data.resolve()
    dump = dump.resolve()
    if not dump.is_file():
        raise ServerError(f"{dump} is not a file")
    if data.exists() and (not data.is_dir() or any(data.iterdir())):
        raise ServerError(f"{data} is not an empty folder: a dump is restored into a new server (a folder that "
                          "does not exist yet, or an empty one)")
    tools = binaries or pgserver_binaries()
    script = _pg_restore(tools, ["--schema-only", "--create", "--file=-", str(dump)], f"{dump} cannot be read")
    roles, logins = schema.roles_in_dump(script)
    made_folder = not data.exists()
    try:
        server = start(data, host=host, port=port, binaries=binaries)
        with admin_connection(server, "postgres") as conn:
            schema.empty_database_for_restore(conn, DATABASE, roles)
        _pg_restore(tools, ["--exit-on-error", "--single-transaction", "--no-password", "--dbname",
                            server.admin_url(), str(dump)], "the dump could not be restored")
        with admin_connection(server) as conn:
            schema.migrate(conn)
            chairs = schema.chair_logins(conn)
        named = sorted(logins | chairs)
        made = [(role, "chair" if role in chairs else "reader") for role in named if schema.usable_login(role)]
        return Restored(server, [(role, kind, add_role(server, role, kind=kind, restored=True))
                                 for role, kind in made], [role for role in named if not schema.usable_login(role)])
    except BaseException:
        with contextlib.suppress(ServerError):
            stop(data, mode="immediate")
        if made_folder:
            shutil.rmtree(data, ignore_errors=True)
        else:
            for entry in data.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise


def _pg_restore(tools: Path, args: list[str], what: str) -> str:
    """Run pg_restore (as the caller, who may read the dump); its standard output, or ServerError naming ``what``
    failed and what pg_restore said."""
    try:
        done = subprocess.run([str(tools / "pg_restore"), *args], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ServerError(f"{what}: cannot run {tools / 'pg_restore'}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise ServerError(f"{what}: pg_restore failed (exit status {done.returncode}): "
                          f"{done.stderr.strip() or 'it said nothing'}")
    return str(done.stdout)


def remove(data: Path) -> None:
    """Stop the server and delete its folder (tests and demos only)."""
    stop(data, mode="immediate")
    shutil.rmtree(data, ignore_errors=True)
