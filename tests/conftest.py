"""Test set-up shared by every test: headless Qt, isolated user folders, no leaked threads."""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
PROTOCOL_VECTORS = SHARED / "protocols"


@pytest.fixture(scope="session", autouse=True)
def session_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One key file for the whole run (databases made by package fixtures outlive a test's folders)."""
    path = tmp_path_factory.mktemp("keys") / "monitor.key"
    os.environ["INFUSION_MONITOR_KEY_FILE"] = str(path)
    return path


@pytest.fixture(autouse=True)
def isolated_user_folders(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                          session_key_file: Path) -> Path:
    """Tests never read or write the user's real config or data folder (nor its key file)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    for name in list(os.environ):
        if name.startswith("INFUSION_MONITOR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("INFUSION_MONITOR_KEY_FILE", str(session_key_file))
    return home


@pytest.fixture(autouse=True)
def fast_secret_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the smallest parameters: tests sign in often; production keeps RFC 9106's."""
    from argon2 import PasswordHasher

    from monitor import accounts

    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


ADMIN_SECRET = "admin-secret-1"
NURSE_SECRET = "nurse-secret-1"


@pytest.fixture
def accounts_in(monkeypatch: pytest.MonkeyPatch) -> object:
    """Create an admin ``AD`` and a nurse ``RN`` in a database: ``accounts_in(db_path)``."""
    from monitor.accounts import Accounts, Principal
    from monitor.store import Store

    def make(path: Path) -> tuple[object, object]:
        with Store(path) as store:
            accounts = Accounts(store)
            admin = accounts.add("AD", "admin", ADMIN_SECRET, by=None)
            nurse = accounts.add("RN", "nurse", NURSE_SECRET, by=admin)
        assert isinstance(admin, Principal)
        return admin, nurse

    return make


def locked_out(accounts: Any, name: str, now: float | None = None) -> Any:
    """Sign in as ``name`` with a wrong secret until the account locks: each failure before the last is refused,
    the last locks it out. That :class:`~monitor.accounts.LockedOut`."""
    from monitor.accounts import FREE_FAILURES, AuthError, LockedOut

    for _ in range(FREE_FAILURES - 1):
        with pytest.raises(AuthError):
            accounts.authenticate(name, "bad-guess", now=now)
    with pytest.raises(LockedOut) as locked:
        accounts.authenticate(name, "bad-guess", now=now)
    return locked.value


@contextlib.contextmanager
def time_zone(name: str) -> Iterator[None]:
    """This process's local time zone set to ``name`` (an IANA zone) for the ``with`` block."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def account(path: Path, name: str, role: str = "physician") -> str:
    """The account ``name`` in the database at ``path`` (made, with an admin ``AD`` when there is no account yet,
    unless it is there); its secret."""
    from monitor.accounts import Accounts
    from monitor.store import Store

    secret = f"{role}-secret-1"
    with Store(path) as store:
        accounts = Accounts(store)
        if not accounts.has_accounts():
            accounts.add("AD", "admin", ADMIN_SECRET, by=None)
        if name not in [info.name for info in accounts.listing()]:
            accounts.add(name, role, secret, by=accounts.authenticate("AD", ADMIN_SECRET))
    return secret


@pytest.fixture
def signed_in_as(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``signed_in_as(db_path, name, role)``: :func:`account`, with its secret where ``--user`` reads it; its name."""

    def sign_in(path: Path, name: str, role: str = "physician") -> str:
        monkeypatch.setenv("INFUSION_MONITOR_SECRET", account(path, name, role))
        return name

    return sign_in

@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread running."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not extra, f"test left threads running: {[t.name for t in extra]}"


@pytest.fixture
def own_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The path of a key file of this test's own (not made yet), for this process and the ones it starts."""
    path = tmp_path / "keys" / "monitor.key"
    monkeypatch.setenv("INFUSION_MONITOR_KEY_FILE", str(path))
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database file in the test's temporary folder."""
    return tmp_path / "monitor.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[object]:
    """An open store on a temporary file, closed after the test."""
    from monitor.store import Store

    s = Store(db_path)
    yield s
    s.close()


def record_simulated(
    db_path: Path,
    *,
    scenario: str = "normal",
    plan: str = "baseline:2,infusion:10,recovery:5",
    seed: int = 1,
    pleth: bool = False,
    start_time: float = 1_790_000_000.0,
    alarms: object = None,
) -> str:
    """Record a whole simulated session as fast as possible; returns its id."""
    from drivers.simulated.driver import SimulatedSource
    from monitor.plan import parse_plan
    from monitor.recorder import Recorder
    from monitor.store import Store

    store = Store(db_path)
    try:
        source = SimulatedSource(scenario=scenario, seed=seed, speed=math.inf, pleth=pleth, start_time=start_time)
        kwargs = {} if alarms is None else {"alarms": alarms}
        recorder = Recorder.new_session(
            store, source, driver="simulated", port=None, plan=parse_plan(plan), autopilot=True, nurse="RN", **kwargs
        )
        recorder.run()
        return recorder.session.id
    finally:
        store.close()


def abandon(recorder: Any, store: Any) -> tuple[str, float]:
    """Leave ``recorder``'s session as a killed process would (lock released, nothing closed).

    Returns the session's id and the time of its last stored data.
    """
    assert recorder.lock is not None
    recorder.lock.release()
    recorder.writer.close()
    last = store.last_data_at(recorder.session.id)
    assert last is not None
    return recorder.session.id, last


# -- the clinic's PostgreSQL -----------------------------------------------------------------
# One real server per test run (started from the pgserver package's binaries), a fresh database per test.


@dataclass(frozen=True)
class Clinic:
    """A fresh, migrated clinic database on the test run's PostgreSQL."""

    server: Any
    database: str
    folder: Path

    @property
    def admin_url(self) -> str:
        """Superuser, through the Unix socket."""
        return str(self.server.admin_url(self.database))

    def role(self, kind: str, name: str | None = None) -> str:
        """A new chair or reader login; returns its URL (the password sits in a passfile named by the URL)."""
        from monitor import server as local_server

        role = name or f"{kind}_{uuid.uuid4().hex[:10]}"
        passfile = local_server.add_role(
            self.server, role, kind=kind, database=self.database, password_file=self.folder / f"{role}.pgpass"
        )
        return f"{self.server.url(role, self.database)}?passfile={passfile}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A real PostgreSQL for the whole run, stopped at the end."""
    from monitor import server as local_server

    # Not under pytest's temporary folder: pytest keeps that private to root, and the server runs
    # under its own system account when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-"))
    running = local_server.start(folder)
    yield running
    local_server.remove(folder)


@pytest.fixture
def clinic(pg_server: Any, tmp_path: Path) -> Clinic:
    """A fresh clinic database (schema migrated) on the run's PostgreSQL."""
    from monitor import server as local_server

    database = f"clinic_{uuid.uuid4().hex[:12]}"
    local_server.create_database(pg_server, database)
    folder = tmp_path / "pgpass"
    folder.mkdir()
    return Clinic(pg_server, database, folder)


@pytest.fixture(scope="session")
def gui_collector(qapp: Any) -> Iterator[Any]:
    """Python's cycle collector on the GUI thread for the tests that run windows, as the programs have it."""
    from ui.collector import collect_on_gui_thread

    collector = collect_on_gui_thread(qapp)
    yield collector
    collector.stop()


@pytest.fixture
def file_checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every whole-file check a store runs at open (``PRAGMA quick_check``, about a second per GiB): the database's
    path and whether it ran on the main (the window's) thread, in order."""
    from monitor.store import Store

    found: list[tuple[str, bool]] = []
    original = Store.check_integrity

    def counted(self: Store) -> None:
        found.append((str(self.path), threading.current_thread() is threading.main_thread()))
        original(self)

    monkeypatch.setattr(Store, "check_integrity", counted)
    return found


def dead_pid() -> int:
    """The id of a process that has already ended."""
    child = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert child.returncode == 0
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def leave_unfinished(path: Path, session_id: str) -> None:
    """Make a stored session look like one whose recording process died: still 'recording', owner gone."""
    from monitor.store import Store

    with Store(path) as store, store.transaction():
        store.db.execute(
            "UPDATE sessions SET status = 'recording', ended_at = NULL, owner_pid = ?, owner_host = ? WHERE id = ?",
            [dead_pid(), socket.gethostname(), session_id],
        )


def many_sessions(path: Path, count: int, mrn: Callable[[int], str], *, start: float = 1_767_225_600.0,
                  every_s: float = 14_400.0) -> list[str]:
    """``count`` finished 90-minute sessions without data, ``every_s`` apart, the patient of the i-th being
    ``mrn(i)`` (registered once): a clinic's list without a clinic's bytes. Their ids, oldest first."""
    from monitor.store import Store

    ids = []
    with Store(path) as store:
        store.db.execute("PRAGMA synchronous = OFF")
        for index in range(count):
            patient = store.create_patient(mrn(index), "Patient", "1970-01-01")
            started = start + index * every_s
            ids.append(store.create_session(started_at=started, patient_id=patient, driver="simulated", port=None,
                                            plan="baseline:5,infusion:55,recovery:30"))
            store.end_session(ids[-1], "complete", started + 5_400)
    return ids


def held_open(prefix: str) -> list[str]:
    """The files whose paths start with ``prefix`` that this process holds open or mapped (Linux /proc)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            held.append(os.readlink(f"/proc/self/fd/{fd}"))
    with open("/proc/self/maps") as maps:
        held += [line.split()[-1] for line in maps if len(line.split()) >= 6]
    return sorted(path for path in held if path.startswith(prefix))

