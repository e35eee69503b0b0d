"""``server backup`` and ``server restore``: the clinic's database dumped owner-only and whole (or not at all), put
back into a new server, and a chair that goes on replicating to it.

Before, the clinic's IT found pg_dump inside the virtual environment and the administrator's socket URL by hand,
and the dump came out readable by every local account."""

from __future__ import annotations

import contextlib
import io
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from monitor import server as local_server
from monitor.cli import main
from monitor.replication import schema
from monitor.replication.server_store import ServerStore
from tests.conftest import record_simulated
from tests.monitor.replication.shipping import assert_same, replicate

TABLES = ("patients", "sessions", "readings", "waveforms", "events", "alarms", "audit", "origins", "chairs")


@pytest.fixture
def folders() -> Iterator[tuple[Path, Path]]:
    """The clinic's server folder and an empty one for the server restored from its dump. Not under pytest's
    temporary folder: the server runs under its own account when the tests run as root."""
    made = [Path(tempfile.mkdtemp(prefix=f"infusion-monitor-pg-{name}-")) for name in ("clinic", "restored")]
    try:
        yield made[0], made[1]
    finally:
        for folder in made:
            local_server.remove(folder)


def _run(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([str(arg) for arg in argv], out=out)
    return code, out.getvalue(), err.getvalue()


def _counts(admin_url: str) -> dict[str, int]:
    with psycopg.connect(admin_url) as conn:
        return {table: int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
                           .fetchone()[0])  # type: ignore[index]
                for table in TABLES}


def test_a_backup_restored_into_a_new_server_holds_what_it_held_and_a_chair_goes_on(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    clinic_folder, restored_folder = folders
    server = local_server.start(clinic_folder)
    chair_url = local_server.client_url(server, "chair_b", local_server.add_role(server, "chair_b", kind="chair"))
    local_server.add_role(server, "station_b", kind="reader")
    db = tmp_path / "chair.db"
    first = record_simulated(db, seed=1)
    replicate(db, chair_url)
    dump = tmp_path / "clinic.dump"

    code, out, err = _run("server", "backup", "--data", clinic_folder, dump)
    assert code == 0, err
    assert f"backup written: {dump} (" in out and "mode 600, pg_dump custom format" in out
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []  # no file left beside
    at_backup = _counts(server.admin_url())
    assert at_backup["readings"] > 1000 and at_backup["events"] > 0 and at_backup["audit"] > 0
    second = record_simulated(db, seed=2, start_time=1_790_100_000.0)  # reaches the clinic's server, not the dump
    replicate(db, chair_url)

    code, out, err = _run("server", "restore", "--data", restored_folder, dump)
    assert code == 0, err
    restored = local_server.running(restored_folder)
    assert restored is not None and restored.port != server.port
    assert _counts(restored.admin_url()) == at_backup
    with psycopg.connect(restored.admin_url()) as conn:
        assert schema.server_version(conn) == schema.SCHEMA_VERSION
    lines = out.splitlines()
    assert f"chair login chair_b; new password file {restored_folder / 'chair_b.pgpass'} (mode 600)" in lines
    assert f"reader login station_b; new password file {restored_folder / 'station_b.pgpass'} (mode 600)" in lines
    urls = {line.split("URL: ")[1].split("?")[0].rsplit("@", 1)[0].split("//")[1]: line.split("URL: ")[1]
            for line in lines if "URL: " in line}
    assert set(urls) == {"chair_b", "station_b"}

    # The chair, given its new URL: it finds the server behind its own record and sends again what it holds.
    replicator = replicate(db, urls["chair_b"])
    notice = replicator.status().notice
    assert notice is not None and "sending again everything" in notice, notice
    assert_same(db, restored.admin_url())
    with ServerStore(urls["station_b"]) as station:
        assert {summary.id for summary in station.sessions()} == {first, second}


def test_a_failed_dump_names_what_failed_and_leaves_the_earlier_file(folders: tuple[Path, Path],
                                                                       tmp_path: Path) -> None:
    """pg_dump refused (a reader's login may not read the audit log): its exit status and what it said are named,
    and the file of that name is the earlier backup, untouched."""
    clinic_folder, _ = folders
    server = local_server.start(clinic_folder)
    reader_url = local_server.client_url(server, "station_c", local_server.add_role(server, "station_c",
                                                                                    kind="reader"))
    dump = tmp_path / "clinic.dump"
    dump.write_bytes(b"the earlier backup")
    code, out, err = _run("server", "backup", "--url", reader_url, dump)
    assert code != 0 and out == ""
    assert "pg_dump failed (exit status 1):" in err and "permission denied" in err, err
    assert "nothing was written (a backup reads every table: give the URL of the database's owner" in err
    assert dump.read_bytes() == b"the earlier backup"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clinic.dump"]


def test_a_restore_needs_a_new_folder_and_a_dump_and_leaves_nothing_when_it_fails(folders: tuple[Path, Path],
                                                                                 tmp_path: Path) -> None:
    clinic_folder, restored_folder = folders
    local_server.start(clinic_folder)
    dump = tmp_path / "clinic.dump"
    assert _run("server", "backup", "--data", clinic_folder, dump)[0] == 0
    code, _out, err = _run("server", "restore", "--data", clinic_folder, dump)
    assert code != 0 and "is not an empty folder: a dump is restored into a new server" in err, err
    assert local_server.running(clinic_folder) is not None  # the clinic's server, untouched
    not_a_dump = tmp_path / "notes.txt"
    not_a_dump.write_text("not a dump\n")
    code, _out, err = _run("server", "restore", "--data", restored_folder, not_a_dump)
    assert code != 0 and f"{not_a_dump} cannot be read: pg_restore failed" in err, err
    assert list(restored_folder.iterdir()) == []  # the server made for it stopped and removed


def test_the_roles_a_dump_names_are_read_from_its_grants_and_owners() -> None:
    """What a new server needs before the dump's grants go in: grantees and owners (quoted names unquoted, PUBLIC
    no role), and of those the logins given the database."""
    script = "\n".join([
        "ALTER DATABASE infusion_monitor OWNER TO clinic_owner;",
        "GRANT CONNECT ON DATABASE infusion_monitor TO chair_1;",
        'GRANT CONNECT,TEMPORARY ON DATABASE infusion_monitor TO "Station ""A""";',
        "GRANT SELECT ON TABLE public.readings TO im_reader;",
        "GRANT SELECT,INSERT ON TABLE public.readings TO im_chair WITH GRANT OPTION;",
        "REVOKE ALL ON FUNCTION public.im_keep_previous() FROM PUBLIC;",
        "GRANT USAGE ON SCHEMA public TO PUBLIC;",
        "CREATE POLICY readers_read ON public.readings FOR SELECT TO im_reader USING (true);",
    ])
    named, logins = schema.roles_in_dump(script)
    assert named == {"clinic_owner", "chair_1", 'Station "A"', "im_reader", "im_chair"}
    assert logins == {"chair_1", 'Station "A"'}
    assert not schema.usable_login('Station "A"') and schema.usable_login("chair_1")
