"""A commit that is on the disk and reported failed: the drive stops answering after SQLite's log, with the commit
in it, reached the disk and before the confirmation came back (a real ext4 filesystem, shut down from inside the
recording's own ``fdatasync`` once the log is on the disk: ``sync_then_shut_down.c``, loaded with LD_PRELOAD).

The recording holds those rows, as it must, for it was told they are not in; the database, once the disk is back,
has them all the same. Found in a run of the disk-failure test under load: after ``write-held``, one transaction
(24 readings) was in the record twice. Now each transaction notes how far the recording's run is written, and
``write-held`` leaves out what the database says went in.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.keys import load_keys
from monitor.store.held_file import pending_recovery_files, read_held_file
from monitor.store.operations import Batch
from tests.faults.helpers import (
    REPO_ROOT,
    CommandLine,
    counts,
    ext4_disk,
    first_value,
    integrity,
    mount,
    readings_twice,
    unmount,
    until,
)

SHIM_SOURCE = Path(__file__).with_name("sync_then_shut_down.c")
#: The line ``record`` ends with: "session ID complete: N readings stored ...".
_DONE = re.compile(r"session \w+ \w+: (\d+) readings stored")


def _shim(folder: Path) -> Path:
    """The shim, compiled; skips where there is no C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler here to build the fdatasync shim")
    built = folder / "sync_then_shut_down.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(built), str(SHIM_SOURCE), "-ldl"], check=True,
                   capture_output=True, timeout=60)
    return built


def test_a_commit_on_the_disk_that_was_reported_failed_is_in_the_record_once(tmp_path: Path) -> None:
    shim = _shim(tmp_path)
    trigger = tmp_path / "shut-down-after-the-next-log-sync"
    image = tmp_path / "disk.img"
    with ext4_disk(tmp_path / "disk", image) as disk:
        db_path = disk / "data" / "monitor.db"
        run = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN", "--duration", "60",
                          "--plan", "baseline:5,infusion:40,recovery:30",
                          env={"LD_PRELOAD": str(shim), "SHUT_DOWN_AFTER_SYNC": str(trigger)})
        try:
            session_id = run.wait_for("session ", timeout=30).split()[1]
            run.wait_for("| stored", timeout=30)
            time.sleep(1.0)
            trigger.touch()
            until(lambda: not trigger.exists(), 10, "a commit on the disk that is reported failed")
            until(lambda: any("(storage_failed) started" in line for line in run.output()), 10, "the storage alarm")
            time.sleep(3.0)  # what is held is in the recovery file, added to every second
        finally:
            run.kill()
        [waiting] = pending_recovery_files(db_path, session_id)
    keys = load_keys(create=False)
    held = read_held_file(waiting, keys)
    assert held.numbers is not None and held.run is not None
    with contextlib.ExitStack() as back:
        disk = tmp_path / "disk"
        assert mount("-o", "loop", str(image), str(disk))
        back.callback(unmount, disk)
        on_disk, _ = counts(db_path, session_id)
        went_in = int(str(first_value(db_path, f"SELECT through FROM writer_runs WHERE run = '{held.run}'")))
        # The transaction the recording was told had failed is in the database, and in the file too.
        assert held.numbers[0] <= went_in < held.numbers[-1], (held.numbers[0], went_in, held.numbers[-1])
        written = subprocess.run([sys.executable, "-m", "monitor.cli", "write-held", str(waiting), "--db",
                                  str(db_path)], capture_output=True, text=True, timeout=120, check=False,
                                 cwd=REPO_ROOT)
        assert written.returncode == 0, written.stdout + written.stderr
        after, _ = counts(db_path, session_id)
        duplicates = readings_twice(db_path)
        readings = [len(op.readings) if isinstance(op, Batch) else 0 for op in held.ops]
        overlap = sum(count for count, n in zip(readings, held.numbers, strict=True) if n <= went_in)
        print(f"on the disk when it came back: {on_disk} readings, operations of the run up to {went_in}; the file "
              f"held operations {held.numbers[0]}..{held.numbers[-1]}, {overlap} readings of them on the disk "
              f"already; after write-held {after} readings, {duplicates} twice")
        assert overlap > 0
        assert duplicates == 0
        assert after == on_disk + sum(readings) - overlap


def test_a_commit_reported_failed_on_a_disk_that_goes_on_is_in_the_record_once(tmp_path: Path) -> None:
    """Only the confirmation is lost; the disk goes on answering. The recording holds the rows and raises the
    storage alarm; its next try writes them, the alarm ends, and nothing is lost or twice. (Here SQLite's next
    commit takes the place in its log of the one it was told failed, so the code before passed too: this stands
    guard over the retry; the writer's own check of what went in is tested in
    ``tests/monitor/test_writer_commit_in_but_failed.py``.)"""
    shim = _shim(tmp_path)
    trigger = tmp_path / "fail-the-next-log-sync"
    db_path = tmp_path / "data" / "monitor.db"
    run = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN", "--duration", "5",
                      "--plan", "baseline:1,infusion:3,recovery:1",
                      env={"LD_PRELOAD": str(shim), "SHUT_DOWN_AFTER_SYNC": str(trigger), "SYNC_FAILS_ONLY": "1"})
    try:
        session_id = run.wait_for("session ", timeout=30).split()[1]
        run.wait_for("| stored", timeout=30)
        trigger.touch()
        until(lambda: not trigger.exists(), 10, "a commit reported failed")
        assert run.finish(timeout=60) == 0, "\n".join(run.output())
    finally:
        if run.process.poll() is None:
            run.kill()
    output = run.output()
    assert any("(storage_failed) started" in line for line in output), "\n".join(output)
    [done] = [m for line in output if (m := _DONE.search(line))]
    stored, _ = counts(db_path, session_id)
    duplicates = readings_twice(db_path)
    print(f"{stored} readings in the record, {done.group(1)} reported stored, {duplicates} twice")
    assert duplicates == 0
    assert stored == int(done.group(1))
    assert integrity(db_path) == "ok"
