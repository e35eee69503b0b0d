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
                                        stdout=subprocess.PIPE, text=True)
        assert self._answer() == "open"

    def write(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        assert self._answer() == "written"

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def _answer(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()
