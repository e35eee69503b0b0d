"""A login whose password file gives no password names the file and why (libpq says only "no password
supplied"), against the real server: missing, readable by others (libpq ignores it), no line for the login."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from monitor.replication.passfile import password_cause
from monitor.replication.replicator import Replicator
from monitor.replication.tls import describe_failure
from monitor.store import Store
from tests.conftest import Clinic
from tests.monitor.replication.shipping import first_error


def _refusal(url: str) -> str:
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(url, connect_timeout=5).close()
    return describe_failure(caught.value, url)


def test_the_password_file_is_named_with_what_is_wrong_with_it(clinic: Clinic, tmp_path: Path) -> None:
    url = clinic.role("chair", "chair_pass")
    good = Path(str(conninfo_to_dict(url)["passfile"]))
    assert password_cause(url) is None  # the file add-chair wrote has the login's line
    psycopg.connect(url, connect_timeout=5).close()
    copy = tmp_path / "copy.pgpass"

    def using(path: Path) -> str:
        return url.replace(str(good), str(path))

    assert _refusal(using(copy)) == f"no password to send: the password file {copy} does not exist"
    shutil.copy(good, copy)
    copy.chmod(0o644)  # copied with a careless mode: libpq ignores it
    assert _refusal(using(copy)) == (f"no password to send: the password file {copy} may be read by others (mode "
                                     f"0644), so it is ignored: make it owner-only (chmod 600 {copy})")
    copy.write_text(good.read_text().replace("chair_pass", "chair_other"))
    copy.chmod(0o600)
    info = conninfo_to_dict(url)
    assert _refusal(using(copy)) == (
        f"no password to send: the password file {copy} has no line for chair_pass@{info['host']}:{info['port']}/"
        f"{info['dbname']}")


def test_a_chair_that_ends_with_rows_waiting_says_why_they_were_not_sent(clinic: Clinic, db_path: Path,
                                                                        tmp_path: Path) -> None:
    """The line `record` ends with: it said only "N rows wait here for the next start", the cause (here the
    password file) long scrolled away."""
    url = clinic.role("chair", "chair_ends_waiting")
    missing = tmp_path / "missing.pgpass"
    url = url.replace(str(conninfo_to_dict(url)["passfile"]), str(missing))
    with Store(db_path) as store:
        store.create_session(started_at=1000.0, patient_id=None, driver="simulated", port=None, plan="")
    replicator = Replicator(db_path, url, chair_name="Chair 9")
    assert first_error(replicator, timeout=20.0).error is not None
    status = replicator.status()  # stopped, as `record` ends
    assert not status.running and status.pending_rows > 0, status
    assert status.text == (f"Server {status.server}: not sent (no password to send: the password file {missing} "
                           f"does not exist); {status.pending_rows} rows wait here for the next start"), status.text
