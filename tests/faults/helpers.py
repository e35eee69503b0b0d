"""Shared pieces of the fault-injection tests: running the real command line in a subprocess."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

_STORED = re.compile(r"\| stored (\d+)")


def stored_counts(lines: Iterable[str]) -> list[int]:
    """What ``record`` reported stored, in the order of its progress lines ("… | stored N")."""
    return [int(m.group(1)) for line in lines if (m := _STORED.search(line))]


class CommandLine:
    """``infusion-monitor ARGS`` in a subprocess whose output lines are collected as they come."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO_ROOT,
            env=dict(os.environ, **(env or {})),
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="cli-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> list[str]:
        """Lines printed so far."""
        with self._lock:
            return list(self.lines)

    def wait_for(self, text: str, timeout: float) -> str:
        """The first line containing ``text``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output():
                if text in line:
                    return line
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.01)
        raise AssertionError(f"no line with {text!r} within {timeout} s; output:\n" + "\n".join(self.output()))

    def stopped(self, text: str, hold_s: float = 0.0) -> tuple[str, float]:
        """Stop the program (SIGSTOP) until a line containing ``text`` comes (from a process it started: its
        guard) and at least ``hold_s`` have passed, then let it go on (SIGCONT, whatever happened); the line and
        how long after the stop it came."""
        self.process.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            line = self.wait_for(text, timeout=10)
            waited = time.monotonic() - stopped_at
            time.sleep(max(0.0, hold_s - waited))
        finally:
            self.process.send_signal(signal.SIGCONT)
        return line, waited

    def end(self, *helpers: int | None) -> None:
        """After a test, whatever it left: SIGKILL the processes the program started (their pids; None for none),
        then the program itself if it still runs."""
        for pid in helpers:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, then reap the process and the reader."""
        self.process.kill()
        self.finish()

    def finish(self, timeout: float = 60.0) -> int:
        """Wait for the process to end by itself; its exit code."""
        code = self.process.wait(timeout)
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


@contextlib.contextmanager
def recording(*args: str) -> Iterator[CommandLine]:
    """``infusion-monitor record ARGS``, handed over once it prints its first progress line; killed when the block
    fails, so no recording outlives a failed check. The block ends with it still running."""
    run = CommandLine("record", *args)
    try:
        run.wait_for("t+", timeout=30)
        yield run
    except BaseException:
        run.kill()
        raise


def run_child(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the Python script ``script`` (a test's child process) with ``args`` from the repository root, fail the
    test (showing its output) unless it exits 0; the finished process, its output as text."""
    child = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=REPO_ROOT,
                           timeout=120)
    assert child.returncode == 0, child.stdout + child.stderr
    return child


def rung_alarms(lines: list[str], text: str) -> list[int]:
    """Where ``record`` printed its high-priority technical alarm ``text`` (``ALARM HIGH technical: TEXT``), by line
    number; fails the test unless there is one and each rings the terminal's bell, its only alarm sound."""
    found = [i for i, line in enumerate(lines) if f"ALARM HIGH technical: {text}" in line]
    assert found, "\n".join(lines)
    assert all(lines[i].startswith("\a") for i in found)
    return found


def first_value(path: Path, sql: str) -> object:
    """The first column of the first row ``sql`` gives, on a fresh connection (which also recovers the WAL, as a
    restart would)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def readings_twice(path: Path) -> int:
    """How many readings are in the database more than once (the same time and parameter), on a fresh connection."""
    return int(str(first_value(path, "SELECT COUNT(*) - COUNT(DISTINCT t || parameter) FROM readings")))


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` on a fresh connection."""
    return str(first_value(path, "PRAGMA integrity_check"))


def counts(path: Path, session_id: str) -> tuple[int, int]:
    """Numeric readings and pleth samples stored for a session, read through a read-only connection."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        readings = conn.execute("SELECT COUNT(*) FROM readings WHERE session_id = ?", [session_id]).fetchone()[0]
        samples = conn.execute("SELECT COALESCE(SUM(n), 0) FROM waveforms WHERE session_id = ?",
                               [session_id]).fetchone()[0]
        return int(readings), int(samples)
    finally:
        conn.close()


def mount(*args: str) -> bool:
    """``mount ARGS``; False where mounting is not allowed (no root, no mount program)."""
    try:
        return subprocess.run(["mount", *args], capture_output=True, check=False, timeout=30).returncode == 0
    except OSError:
        return False


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[bool]:
    """A real filesystem of ``size`` (tmpfs) on ``folder`` for the block; yields False, mounting nothing, where
    that is not allowed."""
    mounted = mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=False)


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` (made here) as a real filesystem of ``size`` (tmpfs) for the block; skips the test where mounting
    is not allowed."""
    import pytest

    folder.mkdir(exist_ok=True)
    with tmpfs(folder, size) as mounted:
        if not mounted:
            pytest.skip("mounting a tmpfs is not allowed here")
        yield folder


@contextlib.contextmanager
def server_disk(size: str) -> Iterator[Path]:
    """A real filesystem of ``size`` (tmpfs) for a local server, at a short path outside pytest's private folder (the
    server's socket lives in it, and the server's account must reach it); skips the test where mounting is not
    allowed."""
    import pytest

    mount_point = Path(tempfile.mkdtemp(prefix="infusion-monitor-small-disk-"))
    try:
        with tmpfs(mount_point, size) as mounted:
            if not mounted:
                pytest.skip("cannot mount a tmpfs here")
            yield mount_point
    finally:
        mount_point.rmdir()


def fill(folder: Path) -> Path:
    """Fill the filesystem holding ``folder`` with one file (``filler``) until a write fails; the file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    return filler


def until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait for ``condition`` (polled every 50 ms); the seconds it took, or a failure naming ``what``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what} not within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


#: ``_IOR('X', 125, __u32)``: take the filesystem down; with EXT4_GOING_FLAGS_NOLOGFLUSH its journal is not
#: flushed first (what a drive that stops answering leaves behind).
_EXT4_IOC_SHUTDOWN = 0x8004587D
_NOLOGFLUSH = 2


@contextlib.contextmanager
def ext4_disk(folder: Path, image: Path) -> Iterator[Path]:
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
        unmount(folder)


def unmount(folder: Path) -> None:
    """Unmount ``folder``; lazily when something still holds it (a process being killed after a failure), so that
    no later run of pytest trips over a mounted folder among its old temporary ones."""
    if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def fail_disk(folder: Path) -> None:
    """The filesystem on ``folder`` stops answering: every read and write there fails with EIO from now on."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, _EXT4_IOC_SHUTDOWN, struct.pack("I", _NOLOGFLUSH))
    except OSError as exc:
        pytest.skip(f"this kernel does not shut an ext4 filesystem down on request ({exc})")
    finally:
        os.close(fd)


@contextlib.contextmanager
def written_back(image: Path, folder: Path, recovery: str, db_path: Path) -> Iterator[None]:
    """The disk image mounted again at ``folder`` and ``write-held`` (a process of its own) run on ``recovery``
    into ``db_path`` there, which must succeed; unmounted afterwards."""
    assert mount("-o", "loop", str(image), str(folder))
    try:
        done = subprocess.run([sys.executable, "-m", "monitor.cli", "write-held", recovery, "--db", str(db_path)],
                              capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)
        assert done.returncode == 0, done.stdout + done.stderr
        yield
    finally:
        unmount(folder)


#: Runs ``monitor.cli.main`` on its arguments once a line arrives on its input: several such processes, all
#: loaded, are let go at the same moment (imports take longer than the race they are to run).
_ON_GO = (
    "import sys\n"
    "from monitor.cli import main\n"
    "print('ready', flush=True)\n"
    "sys.stdin.readline()\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def started_together(*commands: list[str], env: dict[str, str] | None = None,
                     timeout: float = 120.0) -> list[tuple[int, str]]:
    """Run each of ``commands`` (``infusion-monitor`` arguments) in its own process, all let go at once when every
    one of them is loaded; each one's exit code and output, in order."""
    children = [subprocess.Popen([sys.executable, "-c", _ON_GO, *args], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT,
                                 env=dict(os.environ, **(env or {}))) for args in commands]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        return [(child.wait(timeout), (child.communicate()[0] or "")) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
