"""A receiver of the live HL7 feed that accepts connections but never answers (or never even reads).

A whole 90-minute session is recorded by ``infusion-monitor record --feed`` at full speed: the
recording must finish as fast as without a feed, store everything, close the session, and leave
the undelivered messages queued for the next start, within the feed's bounded drain time.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import Store
from tests.drivers.sockets import LoopbackServer
from tests.faults.helpers import CommandLine, integrity

PLAN = "baseline:5,infusion:55,recovery:30"


class SilentReceiver(LoopbackServer):
    """Accepts every connection on 127.0.0.1; reads and drops what comes (or never reads); never answers."""

    def __init__(self, *, reads: bool) -> None:
        super().__init__("silent-receiver")
        self.reads = reads
        self.bytes_read = 0
        self._open: list[socket.socket] = []
        self.start()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.0)
        self._open.append(conn)
        self.idle()

    def idle(self) -> None:
        if self.reads:
            for conn in list(self._open):
                with contextlib.suppress(BlockingIOError, OSError):
                    self.bytes_read += len(conn.recv(65536))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close everything (bounded)."""
        super().stop(timeout_s)
        for conn in self._open:
            conn.close()


@pytest.fixture(params=["reads, never answers", "never reads"])
def receiver(request: pytest.FixtureRequest) -> Iterator[SilentReceiver]:
    silent = SilentReceiver(reads=request.param.startswith("reads"))
    yield silent
    silent.stop()


def _record(db_path: Path, *extra: str) -> tuple[float, list[str]]:
    started = time.monotonic()
    run = CommandLine("record", "--db", str(db_path), "--speed", "max", "--pleth", "--plan", PLAN, "--quiet",
                      "--nurse", "RN", *extra, env={"INFUSION_MONITOR_CONFIG": str(db_path.with_suffix(".toml"))})
    assert run.finish(timeout=120) == 0, run.output()
    return time.monotonic() - started, run.output()


def test_recording_is_not_held_up_and_messages_wait_in_the_queue(tmp_path: Path, receiver: SilentReceiver) -> None:
    baseline_s, _ = _record(tmp_path / "plain.db")
    with_feed_s, output = _record(tmp_path / "fed.db", "--feed", f"127.0.0.1:{receiver.port}")
    db_path = tmp_path / "fed.db"
    assert integrity(db_path) == "ok"
    with Store(db_path, readonly=True) as store:
        [summary] = store.sessions()
        stored = store.reading_count(summary.id)
    assert summary.status == "complete"
    assert stored > 90 * 60 * 3  # HR, PR and SpO2 every second, plus the cuff
    assert receiver.connections >= 1
    conn = sqlite3.connect(db_path)
    try:
        # Delivered messages leave the queue; none was, and the first was tried more than once.
        queued, attempts = conn.execute("SELECT COUNT(*), MAX(attempts) FROM feed_queue").fetchone()
    finally:
        conn.close()
    assert queued > 0 and attempts >= 1
    assert any("wait in the queue" in line for line in output), output
    # The whole run, feed drain included, stays bounded; the recording itself is not slowed.
    from monitor.app.services import FEED_DRAIN_S

    assert with_feed_s <= baseline_s + FEED_DRAIN_S + 10.0, (baseline_s, with_feed_s)
