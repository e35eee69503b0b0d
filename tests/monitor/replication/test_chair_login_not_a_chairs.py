"""A chair given a login that is not a chair's (a station's, copied with its config; one made by hand without
``GRANT im_chair``) says so, naming the login and the way out, against the real server. It was refused batch after
batch as "permission denied for table replication_progress" and "… for function im_publish_chair", twice a
second, naming neither."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from monitor.replication.replicator import Replicator
from monitor.store import Store
from tests.conftest import Clinic
from tests.monitor.replication.shipping import drain, first_error


def _lost(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("server link lost: ")]


@pytest.mark.parametrize("kind", ["station", "made by hand"])
def test_a_chair_under_a_login_that_is_not_a_chairs_names_it_and_what_to_do(
    clinic: Clinic, db_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.WARNING, logger="monitor.replication.replicator")
    login = "station_1" if kind == "station" else "chair_by_hand"
    url = clinic.role("reader", login)
    if kind == "made by hand":  # CREATE ROLE … LOGIN, the GRANT im_chair forgotten
        with psycopg.connect(clinic.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("REVOKE im_reader FROM {}").format(sql.Identifier(login)))
    Store(db_path).close()
    status = first_error(Replicator(db_path, url, chair_name="Chair 7"), timeout=20.0)
    expected = (f"the login {login} is not a chair's (not a member of im_chair; a station's or reviewer's login "
                "reads only), so the server refuses this chair's rows and live status, which wait here: give this "
                f"chair its own login (infusion-monitor server add-chair NAME, or GRANT im_chair TO {login})")
    assert not status.connected and status.error == expected, status
    assert _lost(caplog) == [f"server link lost: {expected}"], _lost(caplog)


def test_the_same_login_made_a_chairs_replicates(clinic: Clinic, db_path: Path) -> None:
    """Given the chairs' group, the same login sends (nothing else stood in its way)."""
    # A name of its own: logins belong to the whole server, and other tests make "station_N" readers.
    url = clinic.role("reader", "reader_made_chair")
    with psycopg.connect(clinic.admin_url, autocommit=True) as admin:
        admin.execute("REVOKE im_reader FROM reader_made_chair")
        admin.execute("GRANT im_chair TO reader_made_chair")
    Store(db_path).close()
    replicator = Replicator(db_path, url, chair_name="Chair 7")
    replicator.start()
    try:
        drain(replicator)
        assert replicator.status().error is None
    finally:
        replicator.stop()
