"""Checking one session's record (:func:`monitor.integrity.verify`) in a process of its own.

A file export states near its top whether the record verified, and checking a 24-hour session
takes about as long as writing it (every reading and waveform row is hashed again). So an export
starts the check here, in a second Python process reading the same database file, and writes the
heavy part of the file meanwhile (:mod:`monitor.exports.deferred`); the statement is written when
the check has answered. The check itself is the same function as ever, over the same committed
rows, with the same key: the key goes to the process through a pipe, never on its command line.

Whatever goes wrong with the process (it cannot start, is killed, answers nonsense), the check
is made again in the exporting process, so an export never states a result nobody obtained.

    python -m monitor.background_verify   (request as one JSON line on standard input)
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: How long an export waits for the second process before it checks the record itself (a day's check takes ~1 s).
ANSWER_TIMEOUT_S = 300.0


class BackgroundVerification:
    """A check running in another process; :meth:`text` waits for its one-line answer."""

    def __init__(self, process: subprocess.Popen[bytes], session_id: str, fallback: Callable[[], str]) -> None:
        self.process = process
        self.session_id = session_id
        self.fallback = fallback
        self._text: str | None = None

    def text(self) -> str:
        """``verified: …`` or ``NOT VERIFIED: …`` for the session (waits for the check to finish)."""
        if self._text is None:
            self._text = self._answer()
        return self._text

    def _answer(self) -> str:
        try:
            out, err = self.process.communicate(timeout=ANSWER_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("record check in a second process failed (%s); checking here", exc)
            self.close()
            return self.fallback()
        if self.process.returncode == 0:
            try:
                answer = json.loads(out.decode("utf-8").strip().splitlines()[-1])
                if answer.get("session_id") == self.session_id and isinstance(answer.get("text"), str):
                    return str(answer["text"])
            except (ValueError, IndexError, AttributeError):
                pass
        log.warning("record check in a second process failed (exit %s: %s); checking here",
                    self.process.returncode, err.decode("utf-8", "replace").strip()[-500:])
        return self.fallback()

    def close(self) -> None:
        """Stop the check if it is still running (an export cancelled or failed)."""
        if self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(OSError):
                self.process.communicate()


def start(db_path: Path, integrity_key: bytes, key_path: Path, session_id: str,
          fallback: Callable[[], str]) -> BackgroundVerification | None:
    """Start checking ``session_id`` of the database at ``db_path``; None when no process could be started.

    ``fallback`` makes the same check in this process (used if the other one fails).
    """
    if not sys.executable:
        return None
    request = json.dumps({"db": str(db_path), "session_id": session_id, "key": integrity_key.hex(),
                          "key_path": str(key_path)})
    try:
        # This interpreter, this package's own module; -P: never a "monitor" found in the working folder
        # (the process is handed the key).
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "monitor.background_verify"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, close_fds=True,
        )
    except OSError as exc:
        log.warning("cannot start a second process to check the record (%s); checking here", exc)
        return None
    assert process.stdin is not None
    try:
        process.stdin.write(request.encode("utf-8") + b"\n")
        process.stdin.close()
        process.stdin = None  # sent and closed: communicate() has nothing more to give it
    except OSError as exc:
        log.warning("cannot hand the record check to a second process (%s); checking here", exc)
        process.kill()
        process.communicate()
        return None
    return BackgroundVerification(process, session_id, fallback)


def _check(request: dict[str, Any]) -> dict[str, str]:
    from monitor.integrity import verify
    from monitor.keys import Keys
    from monitor.store.chain import connect_read_only

    keys = Keys(integrity=bytes.fromhex(request["key"]), identifiers=b"", path=Path(request["key_path"]))
    session_id = str(request["session_id"])
    conn = connect_read_only(Path(request["db"]))
    try:
        text = verify(conn, keys, session_id=session_id).session_text(session_id)
    finally:
        conn.close()
    return {"session_id": session_id, "text": text}


def main() -> int:
    """Answer one request read from standard input with one JSON line on standard output."""
    request = json.loads(sys.stdin.readline())
    print(json.dumps(_check(request)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
