"""Writing an export's heavy part before the statement of whether the record verified.

Every format states near its top whether the record verified. Checking a 24-hour record takes
about as long as writing it, so a file export checks it in a second process
(:mod:`monitor.background_verify`) while the format does its heavy work: a format module with a
``prepare(record, directory)`` makes everything that does not depend on the check (the readings,
the chart) and returns a function that, given the record with its verification, writes the
whole file. The bytes are those of the format's ``write``.

The streaming formats write their body into a :class:`Spool` (an unnamed file beside the target,
gone when closed), then the head, then copy the body after it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from monitor.exports.data import SessionRecord

#: Writes the whole export, given the record with its verification.
Finish = Callable[[SessionRecord, IO[Any]], None]
#: Does a format's heavy work for a record whose verification is not known yet.
Prepare = Callable[[SessionRecord, Path | None], Finish]

_COPY_CHUNK = 1 << 20


class Spool:
    """UTF-8 text written now and copied into the export later."""

    def __init__(self, directory: Path | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by copy_to or close
        #: Where the body is written (text, newlines as given). Write-only, on a second descriptor of the
        #: file: a readable text stream resets its decoder at every write (a day's CSV is 260,000 writes).
        self.text: IO[str] = open(  # noqa: SIM115 - closed by close
            os.dup(self._file.fileno()), "w", encoding="utf-8", newline="", closefd=True
        )

    def copy_to(self, stream: IO[str]) -> None:
        """Append everything written to ``stream`` (as bytes when it has a byte buffer, else as text)."""
        self.text.flush()
        self._file.seek(0)
        binary = getattr(stream, "buffer", None)
        if binary is not None:
            stream.flush()
            shutil.copyfileobj(self._file, binary, _COPY_CHUNK)
            binary.flush()
        else:
            reader = io.TextIOWrapper(self._file, encoding="utf-8", newline="")
            while chunk := reader.read(_COPY_CHUNK):
                stream.write(chunk)
            reader.detach()

    def close(self) -> None:
        """Discard the text."""
        try:
            with contextlib.suppress(OSError):  # unwritten text of a spool being discarded: nothing lost
                self.text.close()
        finally:
            self._file.close()


def body_first(write_head: Callable[[SessionRecord, IO[str]], None],
               write_body: Callable[[SessionRecord, IO[str]], None]) -> Prepare:
    """A format's ``prepare`` from its head (which states the verification) and its body (which does not)."""

    def prepare(record: SessionRecord, directory: Path | None) -> Finish:
        spool = Spool(directory)
        try:
            write_body(record, spool.text)
        except BaseException:
            spool.close()
            raise

        def finish(checked: SessionRecord, stream: IO[Any]) -> None:
            try:
                write_head(checked, stream)
                spool.copy_to(stream)
            finally:
                spool.close()

        return finish

    return prepare
