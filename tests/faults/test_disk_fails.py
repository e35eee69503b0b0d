"""The disk under the database fails in the middle of a ``record``: a real ext4 filesystem on a loop device, shut
down by the kernel's ``EXT4_IOC_SHUTDOWN`` (as when a drive stops answering), after which every read and write
there fails with EIO.

Monitoring goes on under a storage alarm, the rows are held in memory, and at the end they go to a recovery file
in the user's data folder (the temporary folder may be emptied by the restart that follows a failed disk). Once the
disk is back (here: mounted again), ``write-held`` puts them into the database: nothing reported stored before the
failure is lost, and nothing recorded after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import EXIT_NOT_STORED
from monitor.config import data_dir
from monitor.store import Store
from tests.faults.helpers import (
    REPO_ROOT,
    CommandLine,
    counts,
    first_value,
    integrity,
    mount,
    stored_counts,
    until,
)

#: ``_IOR('X', 125, __u32)``: take the filesystem down; with EXT4_GOING_FLAGS_NOLOGFLUSH its journal is not
#: flushed first (what a drive that stops answering leaves behind).
_EXT4_IOC_SHUTDOWN = 0x8004587D
_NOLOGFLUSH = 2
_KEPT_IN = re.compile(r"^rows that could not be written to the database are kept in (\S+)")
_DONE = re.compile(r"session (\w+) (\w+): (\d+) readings stored")


@contextlib.contextmanager
def _ext4(folder: Path, image: Path) -> Iterator[Path]:
    """``folder`` as an ext4 filesystem on a loop device backed by ``image``; skips where that cannot be made."""
    folder.mkdir()
    with open(image, "wb") as handle:
        handle.truncate(64 << 20)
    try:
        made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, check=False, timeout=60)
    except OSError:
        pytest.skip("no mkfs.ext4 here")
    if made.returncode != 0 or not mount("-o", "loop", str(image), str(folder)):
        pytest.skip("mounting a loop device is not allowed here")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def _fail(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, _EXT4_IOC_SHUTDOWN, struct.pack("I", _NOLOGFLUSH))
    except OSError as exc:
        pytest.skip(f"this kernel does not shut an ext4 filesystem down on request ({exc})")
    finally:
        os.close(fd)


def test_a_disk_that_fails_mid_session_loses_nothing_once_it_is_back(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    with _ext4(tmp_path / "disk", image) as disk:
        db_path = disk / "data" / "monitor.db"
        run = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN", "--duration", "12",
                          "--plan", "baseline:5,infusion:40,recovery:30")
        try:
            run.wait_for("| stored", timeout=30)
            time.sleep(2.0)
            stored_before = max(stored_counts(run.output()))
            failed_at = time.monotonic()
            _fail(disk)
            alarmed_s = until(lambda: any("(storage_failed) started" in line for line in run.output()), 10,
                              "the storage alarm")
            [alarm] = [line for line in run.output() if "(storage_failed) started" in line]
            assert "its file cannot be read: Input/output error" in alarm, alarm  # the disk named, not "malformed"
            progress_at_alarm = len(stored_counts(run.output()))
            assert run.finish() == EXIT_NOT_STORED, "\n".join(run.output())
        except BaseException:
            run.kill()
            raise
        lines = run.output()
        print(f"storage alarm {alarmed_s:.2f} s after the disk failed; "
              f"{len(stored_counts(lines)) - progress_at_alarm} progress lines after it")
        assert len(stored_counts(lines)) - progress_at_alarm >= 3, "monitoring did not go on:\n" + "\n".join(lines)
        assert time.monotonic() - failed_at >= 8  # the session ran its length
        [kept] = [m.group(1) for line in lines if (m := _KEPT_IN.search(line))]
        [done] = [m for line in lines if (m := _DONE.search(line))]
        assert done.group(2) == "unfinished"
        recovery = Path(kept)
        assert recovery.parent == data_dir(), f"the rows went to {recovery}"
        assert stat.S_IMODE(recovery.stat().st_mode) == 0o600
        assert f"write them into it once it can be written again: infusion-monitor write-held {recovery} --db " \
               f"{db_path}" in lines
        session_id = done.group(1)
    # The disk replaced (here: the same image mounted again, its journal replayed).
    with contextlib.ExitStack() as back:
        disk = tmp_path / "disk"
        assert mount("-o", "loop", str(image), str(disk))
        back.callback(subprocess.run, ["umount", str(disk)], capture_output=True, check=False)
        assert integrity(db_path) == "ok"
        on_disk, _ = counts(db_path, session_id)
        assert on_disk >= stored_before, f"{stored_before - on_disk} readings reported stored were lost"
        held = subprocess.run([sys.executable, "-m", "monitor.cli", "write-held", str(recovery), "--db", str(db_path)],
                              capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)
        assert held.returncode == 0, held.stdout + held.stderr
        after, _ = counts(db_path, session_id)
        print(f"reported stored before the failure {stored_before}; on the disk when it came back {on_disk}; "
              f"after write-held {after}")
        assert after > on_disk
        with Store(db_path, readonly=True) as store:
            assert store.status_of(store.session_row(session_id)) == "closed"
        duplicates = first_value(db_path, "SELECT COUNT(*) - COUNT(DISTINCT t || parameter) FROM readings")
        assert duplicates == 0
