"""Test helpers for serial paths: real pseudo-terminals wired as a virtual null-modem cable, and the
shared public protocol vectors."""

from __future__ import annotations

import os
import threading
import time
import tty
from pathlib import Path

#: The public example frames shared by the project: <repo>/../shared/protocols.


class PtyEnd:
    """One pseudo-terminal: the test holds the master, a program opens ``path`` (the slave)."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        # Raw from the start, so nothing is echoed or translated before a program opens it.
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(self.master, False)

    def write(self, data: bytes, give_up_after_s: float = 2.0) -> int:
        """Write, waiting while the pty buffer is full; returns how many bytes had to be dropped."""
        view = memoryview(data)
        deadline = time.monotonic() + give_up_after_s
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return len(view)
                time.sleep(0.005)
                continue
            except OSError:
                return len(view)
            view = view[n:]
        return 0

    def read_available(self) -> bytes:
        """Whatever the program wrote to its side (empty when nothing or when it is closed)."""
        try:
            return os.read(self.master, 65536)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        """Hang up: the program's side now fails on read, like an unplugged adapter."""
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


class NullModem:
    """A virtual null-modem cable: two ptys whose masters are relayed both ways by a thread.

    The device side opens ``device_path``; the host side opens ``host_link``, a symlink that
    :meth:`replug` re-points to a fresh pty after :meth:`unplug` hung up the old one, the way a
    USB-serial adapter comes back under the same name. While unplugged the name leads nowhere, as an
    adapter's does.
    """

    def __init__(self, tmp: Path) -> None:
        self.device_end = PtyEnd()
        self.host_end: PtyEnd | None = PtyEnd()
        self.host_link = tmp / "ttyHOST"
        self.host_link.symlink_to(self.host_end.path)
        self.dropped = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay, name="null-modem", daemon=True)
        self._thread.start()

    @property
    def device_path(self) -> str:
        """Where the emulated device writes."""
        return self.device_end.path

    def inject(self, data: bytes) -> None:
        """Bytes on the host's wire that the device did not send (line noise)."""
        with self._lock:
            if self.host_end is not None:
                self.host_end.write(data)

    def unplug(self) -> None:
        """Hang up the host side and take its name away; bytes the device sends meanwhile are lost, as on a real
        cable."""
        with self._lock:
            # The name goes first: once the host end is closed and the link has let go, the kernel gives its pty
            # number to the next pty made on this computer (another test's, another worker's), and a link still
            # reconnecting through the name would open that one and lock it.
            self.host_link.unlink(missing_ok=True)
            if self.host_end is not None:
                self.host_end.close()
                self.host_end = None

    def replug(self) -> None:
        """A new pty under the same host path."""
        with self._lock:
            self.host_end = PtyEnd()
            tmp = self.host_link.with_name("ttyHOST.new")
            tmp.symlink_to(self.host_end.path)
            tmp.replace(self.host_link)

    def _relay(self) -> None:
        while not self._stop.is_set():
            data = self.device_end.read_available()
            with self._lock:
                if data and self.host_end is not None:
                    self.dropped += self.host_end.write(data, give_up_after_s=0.5)
                elif data:
                    self.dropped += len(data)
                back = self.host_end.read_available() if self.host_end is not None else b""
            if back:
                self.device_end.write(back, give_up_after_s=0.5)
            if not (data or back):
                time.sleep(0.002)

    def close(self) -> None:
        """Stop relaying and hang up both ends."""
        self._stop.set()
        self._thread.join(2.0)
        self.unplug()
        self.device_end.close()
