"""Another process with a database open through plain SQLite: a backup script, the ``sqlite3`` shell, a tool
of the clinic's. It takes none of this program's precautions (no waiting, no write-back)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: Opens the database with plain SQLite (trying again for up to 10 s while it is locked), says so, and on each
#: line read from its input inserts that line into a table of its own; exits at the end of its input.
_OUTSIDER = (
    "import sqlite3, sys, time\n"
    "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "deadline = time.monotonic() + 10\n"
    "while True:\n"
    "    try:\n"
    "        conn.execute('SELECT COUNT(*) FROM sqlite_master').fetchone()\n"
    "        break\n"
    "    except sqlite3.OperationalError:\n"
    "        if time.monotonic() > deadline:\n"
    "            raise\n"
    "        time.sleep(0.05)\n"
    "print('open', flush=True)\n"
    "for line in sys.stdin:\n"
    "    conn.execute('CREATE TABLE IF NOT EXISTS outsider (x TEXT)')\n"
    "    conn.execute('INSERT INTO outsider VALUES (?)', [line.strip()])\n"
    "    print('written', flush=True)\n"
    "conn.close()\n"
)


class Outsider:
    """Another process with the database open, written to on request."""

    def __init__(self, db_path: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _OUTSIDER, str(db_path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._expect("open")

    def write(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        self._expect("written")

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait(timeout=30)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def _expect(self, answer: str) -> None:
        """Fail, with what the process printed on its error output, unless its next line is ``answer``."""
        assert self.process.stdout is not None and self.process.stderr is not None
        line = self.process.stdout.readline().strip()
        if line != answer:
            self.process.wait(timeout=30)
            raise AssertionError(f"the outside process said {line!r}, not {answer!r}: {self.process.stderr.read()}")
