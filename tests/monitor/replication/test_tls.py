"""TLS between chairs, stations and a real PostgreSQL built with OpenSSL (the distribution's, not pgserver's).

The certificates are made here with ``cryptography``: a test authority, a server certificate for
127.0.0.1/localhost signed by it, and a second authority the server's certificate does not chain to.
"""

from __future__ import annotations

import io
import os
import queue
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from monitor import server as local_server
from monitor.cli import main
from monitor.config import UserConfig
from monitor.replication import tls
from monitor.replication.chair import server_url
from monitor.replication.replicator import Replicator
from monitor.replication.server_store import ServerStore
from monitor.station import ChairReport, StationFeed
from monitor.store import Store, StoreError
from tests.conftest import record_simulated
from tests.monitor.replication.shipping import assert_same, drain, first_error

#: Set by ``python3 tasks.py test`` once it has made sure such a server is installed: then a missing one fails.
BINARIES_ENV = "INFUSION_MONITOR_TLS_POSTGRES"


def _tls_binaries() -> Path:
    named = os.environ.get(BINARIES_ENV)
    if named:
        return Path(named)
    found = local_server.system_binaries()
    if found is None:
        pytest.skip(
            "no PostgreSQL server built with OpenSSL on this machine (none under /usr/lib/postgresql/*/bin; "
            "`python3 tasks.py test` installs Debian's postgresql) and pgserver's binaries have no TLS"
        )
    if not local_server.tls_built_in(found):
        pytest.skip(f"the PostgreSQL binaries in {found} were built without OpenSSL")
    return found


@dataclass(frozen=True)
class TlsClinic:
    """A running server that accepts network logins over TLS only, with the files a client needs."""

    server: local_server.LocalServer
    folder: Path
    ca: Path  # the authority that signed the server's certificate
    wrong_ca: Path  # an authority that did not

    def role(self, kind: str) -> tuple[str, Path]:
        """A new login of ``kind`` and its password file; returns its URL without TLS options."""
        role = f"{kind}_{uuid.uuid4().hex[:10]}"
        passfile = local_server.add_role(self.server, role, kind=kind, password_file=self.folder / f"{role}.pgpass")
        return f"{self.server.url(role)}?passfile={passfile}", passfile

    def ssl_of(self, application: str) -> list[tuple[bool, str]]:
        """``pg_stat_ssl`` for every connection of one program (by its application_name), seen by the server."""
        with psycopg.connect(self.server.admin_url()) as conn:
            rows = conn.execute(
                "SELECT s.ssl, COALESCE(s.version, '') FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                "WHERE a.application_name = %s AND a.client_addr IS NOT NULL",
                [application],
            ).fetchall()
        return [(bool(r[0]), str(r[1])) for r in rows]


@pytest.fixture(scope="module")
def tls_clinic() -> Iterator[TlsClinic]:
    """The distribution's PostgreSQL with a certificate from a test authority, ``hostssl`` only."""
    binaries = _tls_binaries()
    assert local_server.tls_built_in(binaries), f"{binaries} has no OpenSSL"
    # Not under pytest's temporary folder: the server runs under its own account when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-tls-"))
    folder.chmod(0o755)
    try:
        authority = tls.new_authority("Test clinic CA")
        issued = tls.issue_server_certificate(authority, ("localhost", "127.0.0.1"))
        files = folder / "pki"
        files.mkdir()
        (files / "ca.pem").write_bytes(authority.certificate_pem)
        (files / "server.pem").write_bytes(issued.certificate_pem)
        (files / "server.key").write_bytes(issued.key_pem)
        (files / "wrong-ca.pem").write_bytes(tls.new_authority("Some other CA").certificate_pem)
        running = local_server.start(folder / "server", binaries=binaries)
        ca = local_server.enable_tls(
            folder / "server", certificate=files / "server.pem", key=files / "server.key", authority=files / "ca.pem"
        )
        assert ca.read_bytes() == authority.certificate_pem
        yield TlsClinic(running, folder, files / "ca.pem", files / "wrong-ca.pem")
    finally:
        local_server.remove(folder / "server")
        shutil.rmtree(folder, ignore_errors=True)


def _replicate(db_path: Path, url: str, clinic: TlsClinic, name: str) -> list[tuple[bool, str]]:
    """Record a session, ship it over ``url``; returns what pg_stat_ssl said of the chair's connection."""
    Store(db_path).close()
    replicator = Replicator(db_path, url, chair_name=name)
    record_simulated(db_path, plan="baseline:1,infusion:5,recovery:1")
    replicator.start()
    try:
        drain(replicator)
        seen = clinic.ssl_of("infusion-monitor chair")
    finally:
        replicator.stop()
    digests = assert_same(db_path, clinic.server.admin_url(), replicator.origin)
    assert sum(d.rows for d in digests) > 100
    return seen


def test_a_chair_verifying_the_server_replicates_over_tls(tls_clinic: TlsClinic, db_path: Path) -> None:
    base, _ = tls_clinic.role("chair")
    seen = _replicate(db_path, f"{base}&sslmode=verify-full&sslrootcert={tls_clinic.ca}", tls_clinic, "Chair TLS")
    assert seen and all(ssl and version.startswith("TLSv1.") for ssl, version in seen), seen


def test_the_servers_certificate_from_another_authority_is_refused_naming_tls(
    tls_clinic: TlsClinic, db_path: Path
) -> None:
    base, _ = tls_clinic.role("chair")
    Store(db_path).close()
    record_simulated(db_path)
    replicator = Replicator(db_path, f"{base}&sslmode=verify-full&sslrootcert={tls_clinic.wrong_ca}")
    status = first_error(replicator)
    assert not status.connected and status.pending_rows > 0
    assert status.error is not None and status.error.startswith("TLS: ")
    assert f"not signed by the authority in {tls_clinic.wrong_ca} (its signer is CN=Test clinic CA)" in (
        status.error
    ) and "certificate verify failed" in status.error
    assert "NOT CONNECTED (TLS: " in status.text and "nurse station cannot see" in status.text
    with psycopg.connect(tls_clinic.server.admin_url()) as server:
        assert server.execute("SELECT COUNT(*) FROM readings WHERE origin = %s", [replicator.origin]).fetchone() == (
            0,
        )


def test_a_certificate_for_another_host_name_is_refused_under_verify_full(tls_clinic: TlsClinic) -> None:
    _, passfile = tls_clinic.role("chair")
    # The right server and authority, reached under a name its certificate is not made out for.
    url = (f"host=clinic-db.invalid hostaddr=127.0.0.1 port={tls_clinic.server.port} dbname=infusion_monitor "
           f"user=x passfile={passfile} sslmode=verify-full sslrootcert={tls_clinic.ca}")
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(url).close()
    message = tls.describe_failure(refused.value)
    assert message.startswith("TLS: the server's certificate is not made out for the host name"), message
    assert "clinic-db.invalid" in message
    # require encrypts but checks nothing, so the same connection gets as far as the password.
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(url.replace("sslmode=verify-full", "sslmode=require")).close()


def test_sslmode_require_encrypts_without_checking_the_authority(tls_clinic: TlsClinic, db_path: Path) -> None:
    base, _ = tls_clinic.role("chair")
    seen = _replicate(db_path, f"{base}&sslmode=require", tls_clinic, "Chair require")
    assert seen and all(ssl for ssl, _ in seen), seen


def test_a_login_without_tls_is_refused_naming_tls(tls_clinic: TlsClinic, db_path: Path) -> None:
    base, _ = tls_clinic.role("chair")
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(f"{base}&sslmode=disable").close()
    message = tls.describe_failure(refused.value)
    assert message.startswith("TLS: the server accepts this login only over TLS") and "no encryption" in message
    # A reviewer's session browser says the same.
    reader, _ = tls_clinic.role("reader")
    with pytest.raises(StoreError, match="TLS: the server accepts this login only over TLS"):
        ServerStore(f"{reader}&sslmode=disable")


def test_the_authority_can_come_from_the_environment_or_the_config_file(
    tls_clinic: TlsClinic, db_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base, _ = tls_clinic.role("chair")
    # The config file names the server with its TLS options; the chair takes it as written.
    in_config = f"{base}&sslmode=verify-full&sslrootcert={tls_clinic.ca}"
    assert server_url(None, UserConfig({"server": in_config}, tmp_path / "c.toml")) == in_config
    # libpq's own variables: the URL stays short, the authority is set once for the computer's account.
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", str(tls_clinic.wrong_ca))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(base).close()
    monkeypatch.setenv("PGSSLROOTCERT", str(tls_clinic.ca))
    seen = _replicate(db_path, base, tls_clinic, "Chair env")
    assert seen and all(ssl for ssl, _ in seen), seen


def test_station_and_reviewer_read_over_verified_tls(tls_clinic: TlsClinic, db_path: Path) -> None:
    chair, _ = tls_clinic.role("chair")
    secure = f"&sslmode=verify-full&sslrootcert={tls_clinic.ca}"
    _replicate(db_path, chair + secure, tls_clinic, "Chair read")
    reader, _ = tls_clinic.role("reader")
    reports: queue.Queue[ChairReport] = queue.Queue()
    links: list[tuple[bool, str | None]] = []
    feed = StationFeed(reader + secure, reports.put, lambda up, error: links.append((up, error)))
    feed.start()
    try:
        # Every chair of the module's clinic is reported; this one must be among them.
        names = {reports.get(timeout=15).name}
        while "Chair read" not in names:
            names.add(reports.get(timeout=15).name)
        seen = tls_clinic.ssl_of("infusion-monitor station")
        assert seen and all(ssl and version.startswith("TLSv1.") for ssl, version in seen), seen
    finally:
        feed.stop()
    assert (True, None) in links
    with ServerStore(reader + secure) as store:
        assert [s.id for s in store.sessions()]
        with store.conn.cursor() as cur:
            row = cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert row is not None and row["ssl"] is True
    # A station given the wrong authority stays off and says why.
    wrong = StationFeed(f"{reader}&sslmode=verify-full&sslrootcert={tls_clinic.wrong_ca}", reports.put,
                        lambda up, error: links.append((up, error)))
    wrong.start()
    try:
        deadline = time.monotonic() + 10
        while not any(error and error.startswith("TLS: ") for _, error in links) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        wrong.stop()
    assert any(not up and error and "certificate verify failed" in error for up, error in links), links


def test_the_commands_start_a_local_server_with_its_own_authority_and_tls_only() -> None:
    binaries = _tls_binaries()
    folder = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-tls-own-"))

    def command(*args: str) -> str:
        out = io.StringIO()
        assert main(["server", *args, "--data", str(folder)], out) == 0, out.getvalue()
        return out.getvalue()

    try:
        command("start", "--binaries", str(binaries))
        said = command("tls")
        ca = folder.resolve() / "server-ca.crt"
        assert f"sslmode=verify-full&sslrootcert={ca}" in said
        url = command("add-chair", "chair_own").split("URL: ", 1)[1].strip()
        assert "<role>" not in url
        # Once the server has TLS the URL given out checks it (without sslmode libpq accepts any certificate).
        assert url.endswith(f"&sslmode=verify-full&sslrootcert={ca}"), url
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert row is not None and row[0] is True and str(row[1]).startswith("TLS")
        # The cluster remembers its binaries: a plain restart uses the same ones (it runs only under its own).
        command("stop")
        assert f"?sslmode=verify-full&sslrootcert={ca}  (add one" in command("start")
        again = local_server.running(folder)
        assert again is not None and again.binaries == binaries
        with psycopg.connect(f"{url}&sslmode=require") as conn:
            assert conn.execute("SHOW ssl").fetchone() == ("on",)
        command("stop")
        with pytest.raises(local_server.ServerError, match="runs only under them"):
            local_server.start(folder, binaries=local_server.pgserver_binaries())
    finally:
        local_server.remove(folder)


def test_a_failed_certificate_check_says_which_certificate_is_out_of_date() -> None:
    """libpq says only "certificate verify failed" whether the authority is wrong or a certificate out of date."""
    binaries = _tls_binaries()
    folder = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-tls-dates-"))
    folder.chmod(0o755)
    authority = tls.new_authority("Clinic CA")
    lapsed = tls.new_authority("Lapsed CA", days=-0.001)  # ended a minute ago
    files: dict[str, Path] = {}
    for name, content in (
        ("ca.pem", authority.certificate_pem),
        ("lapsed-ca.pem", lapsed.certificate_pem),
        ("other-ca.pem", tls.new_authority("Other CA").certificate_pem),
    ):
        files[name] = folder / name
        files[name].write_bytes(content)

    def serve(issued: tls.ServerCertificate, signer: Path) -> None:
        (folder / "server.pem").write_bytes(issued.certificate_pem)
        (folder / "server.key").write_bytes(issued.key_pem)
        local_server.enable_tls(folder / "server", certificate=folder / "server.pem", key=folder / "server.key",
                                authority=signer)

    def refusal(trusted: str) -> tuple[str, str]:
        url = (f"postgresql://nobody_here@127.0.0.1:{running.port}/infusion_monitor"
               f"?sslmode=verify-full&sslrootcert={files[trusted]}")
        with pytest.raises(psycopg.OperationalError, match="certificate verify failed") as refused:
            psycopg.connect(url).close()
        return tls.describe_failure(refused.value, url), tls.describe_failure(refused.value)

    try:
        running = local_server.start(folder / "server", binaries=binaries)
        serve(tls.issue_server_certificate(authority, days=-0.001), files["ca.pem"])
        told, guessed = refusal("ca.pem")
        assert told.startswith("TLS: the server's certificate expired on "), told
        assert "the server needs a new one (SSL error: certificate verify failed)" in told, told
        # Without the URL every cause is named, none claimed.
        assert "not signed by that authority, or it or the authority's certificate has expired" in guessed, guessed
        told, _ = refusal("other-ca.pem")
        assert f"not signed by the authority in {files['other-ca.pem']} (its signer is CN=Clinic CA)" in told, told
        serve(tls.issue_server_certificate(lapsed), files["lapsed-ca.pem"])
        told, _ = refusal("lapsed-ca.pem")
        assert told.startswith(
            f"TLS: the certificate of the authority in {files['lapsed-ca.pem']} that signed it expired on "
        ), told
    finally:
        local_server.remove(folder / "server")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_server_that_does_not_answer_the_look_at_its_certificate_is_given_up_on(tmp_path: Path) -> None:
    authority = tmp_path / "ca.pem"
    authority.write_bytes(tls.new_authority("Clinic CA").certificate_pem)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # takes the connection, never answers
        port = silent.getsockname()[1]
        url = f"postgresql://chair_1@127.0.0.1:{port}/im?sslmode=verify-full&sslrootcert={authority}"
        failure = psycopg.OperationalError(f'connection to server at "127.0.0.1", port {port} failed: '
                                           "SSL error: certificate verify failed")
        started = time.monotonic()
        message = tls.describe_failure(failure, url)
        took = time.monotonic() - started
    assert took < tls.PROBE_TIMEOUT_S + 1.0, took
    assert message.startswith("TLS: the server's certificate could not be verified"), message
    assert message.endswith("(SSL error: certificate verify failed)"), message


def test_pgservers_binaries_say_plainly_that_they_have_no_tls(pg_server: local_server.LocalServer) -> None:
    if local_server.tls_built_in():
        pytest.skip("this pgserver release was built with OpenSSL")
    # Refused before anything in the cluster is changed.
    with pytest.raises(local_server.ServerError, match="built without TLS"):
        local_server.enable_tls(pg_server.data)
