"""Starting the clinic's local server: a failure names the server's log and shows what it says."""

from __future__ import annotations

import re
import shutil
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
