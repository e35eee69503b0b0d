"""Starting the clinic's local server: a failure names the server's log and shows what it says."""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest

from monitor import server as local_server


def test_a_port_already_in_use_is_named_with_the_log_that_says_so(pg_server: Any) -> None:
    """pg_ctl says only "could not start server / examine the log output": the error names the log and its end."""
    # Not under pytest's temporary folder: the server runs under its own account when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-busy-"))
    try:
        with pytest.raises(local_server.ServerError) as failed:
            local_server.start(folder, port=pg_server.port)
        text = str(failed.value)
        # Said in the day's file of the server's logging collector, which opens before the port is bound.
        assert re.search(rf"the server's log, {re.escape(str(folder / 'log'))}/server-[A-Z][a-z][a-z]\.log, ends", text)
        assert "in use" in text or "could not bind" in text or "could not create" in text, text
    finally:
        if local_server.running(folder) is not None:
            local_server.stop(folder, mode="immediate")
        shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether the process runs (an ended one nobody has reaped yet is a zombie, "Z", and does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_stop_finds_a_server_whose_record_is_missing() -> None:
    """A start that could not write ``server.json`` (a full disk) names ``server stop`` to end what it left; that
    finds the postmaster by its pid file (it said "no server was running")."""
    folder = Path(tempfile.mkdtemp(prefix="infusion-monitor-pg-norecord-"))
    started = None
    try:
        started = local_server.start(folder)
        (folder / "server.json").unlink()
        assert local_server.running(folder) is None
        assert local_server.stop(folder)
        assert not (folder / "pgdata" / "postmaster.pid").exists()
        assert not _running(started.pid)
    finally:
        if started is not None and _running(started.pid):
            os.kill(started.pid, signal.SIGQUIT)  # not stopped above: nothing else would
        local_server.remove(folder)
