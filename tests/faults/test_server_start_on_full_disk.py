"""``server start`` on a disk too full for the clinic's database (a real tmpfs filled until ENOSPC, then half a
megabyte freed): PostgreSQL starts, creating the database fails. The start must stop PostgreSQL again and say so;
it left it running, and a second start then found it running and reported a schema it had never made."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from monitor import server as local_server
from monitor.cli import main
from monitor.exports.files import ExportFileError
from monitor.replication import schema
from tests.faults.helpers import fill, server_disk

#: What is left free for the start: room for PostgreSQL's pid file and log lines, not for the clinic's database.
FREE_BYTES = 512 * 1024


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 120 MB tmpfs; a server left on it is stopped before it is unmounted."""
    with server_disk("120M") as mount_point:
        try:
            yield mount_point
        finally:
            with contextlib.suppress(local_server.ServerError):
                local_server.stop(mount_point / "pg", mode="immediate")


def _postgres_on(pgdata: Path) -> list[int]:
    """The pids of every process started with ``-D pgdata`` (the postmaster; its children name no folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if str(pgdata).encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def _server_start(data: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["server", "start", "--data", str(data)], out=out)
    return code, out.getvalue(), err.getvalue()


def test_a_start_that_cannot_make_the_database_stops_postgresql_again(small_disk: Path) -> None:
    data = small_disk / "pg"
    local_server.init(data)  # the cluster fits; what the start adds to it (the clinic's database) does not
    filler = fill(small_disk)
    os.truncate(filler, filler.stat().st_size - FREE_BYTES)

    code, out, err = _server_start(data)
    assert code != 0 and out == ""
    assert "the clinic's database could not be made ready" in err, err
    assert "could not extend file" in err or "No space left on device" in err, err
    assert f"PostgreSQL was stopped again: nothing is left running on {data}." in err, err
    assert _postgres_on(data / "pgdata") == []
    assert local_server.running(data) is None

    # Space back: the next start does the whole of it (before, it found the server running and did nothing).
    filler.unlink()
    code, out, err = _server_start(data)
    assert code == 0, err
    assert out.startswith("PostgreSQL running (pid ")
    server = local_server.running(data)
    assert server is not None
    with psycopg.connect(server.admin_url()) as conn:
        assert schema.server_version(conn) == schema.SCHEMA_VERSION
    assert local_server.stop(data)
    assert _postgres_on(data / "pgdata") == []


def test_the_servers_record_is_not_emptied_by_a_full_disk(small_disk: Path) -> None:
    """``server.json`` (the port and binaries a start reads) is written beside and renamed: a start that cannot write
    it leaves the earlier one whole, not an empty file that every later start fails to read."""
    record = small_disk / "server.json"
    record.write_text('{"host": "127.0.0.1", "port": 5999, "binaries": null}')
    fill(small_disk)
    with pytest.raises(ExportFileError, match="No space left on device"):
        local_server._write_record(small_disk, "127.0.0.1", 6000, None)
    assert record.read_text() == '{"host": "127.0.0.1", "port": 5999, "binaries": null}'
    assert sorted(path.name for path in small_disk.iterdir()) == ["filler", "server.json"]
