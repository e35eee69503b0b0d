"""A recording ended while its disk was full (a real tmpfs filled until ENOSPC, then SIGTERM): the rows it still
held went to a recovery file, and the README says the session "is then left unfinished until
`infusion-monitor write-held FILE` writes them".

Space is freed and the chair is started again the way the README offers for any unfinished session
(`record --resume ID`). That start must not go on, and close the session, as if nothing were pending: it must
name the recovery file (or refuse), or the held rows - readings, acknowledgments, notes of the full-disk spell -
stay outside a record that now says "closed".
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import EXIT_NOT_STORED
from monitor.store import Store
from tests.faults.helpers import CommandLine, fill, small_disk

DONE = re.compile(r"session (\w+) (closed|complete|unfinished): (\d+) readings stored")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "small-disk", "3m") as folder:
        yield folder


def test_resuming_a_session_whose_rows_wait_in_a_recovery_file_names_the_file(
    disk: Path, tmp_path: Path
) -> None:
    db_path = disk / "monitor.db"
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    args = ["record", "--db", str(db_path), "--speed", "30", "--nurse", "RN",
            "--plan", "baseline:5,infusion:40,recovery:30"]
    first = CommandLine(*args, env=env)
    first.wait_for("| stored", timeout=30)
    filler = fill(disk)
    first.wait_for("storage_write_failed", timeout=15)
    time.sleep(1.0)
    first.process.send_signal(signal.SIGTERM)
    assert first.finish() == EXIT_NOT_STORED  # ended, with rows outside the database
    kept = first.wait_for("are kept in", timeout=1)
    recovery = kept.rsplit(" ", 1)[-1]
    [done] = [m for line in first.output() if (m := DONE.search(line))]
    assert done.group(2) == "unfinished" and os.path.exists(recovery)

    filler.unlink()  # space is back
    second = CommandLine(*args[:-2], "--resume", done.group(1)[:8], "--duration", "2", env=env)
    second.finish()
    said = "\n".join(second.output())
    print(said)
    assert os.path.basename(recovery) in said or "write-held" in said, (
        "the resumed start says nothing of the rows waiting in " + recovery + ":\n" + said)
    # Once the held rows are written, the session ends as the recording ended it.
    held = CommandLine("write-held", recovery, "--db", str(db_path), env=env)
    assert held.finish() == 0, held.output()
    with Store(db_path, readonly=True) as store:
        assert store.status_of(store.session_row(done.group(1))) == "closed"
