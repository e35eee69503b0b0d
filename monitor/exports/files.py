"""Writing an export file: complete or not at all, and only ever a regular file.

The export is written to a new temporary file beside the target and renamed over it once
complete, so a failed export (a full disk, an error inside a format) leaves nothing behind and an
existing file is never half overwritten; what a killed export left there is removed by the next
(:mod:`monitor.unfinished`). A target that exists but is not a regular file (a
directory, a device such as ``/dev/full``, a pipe) is refused: renaming over it would replace the
device node with a file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from monitor.unfinished import EXPORT_MARK, hold, remove_left_over

log = logging.getLogger(__name__)


class ExportFileError(Exception):
    """The export file cannot be written; the message says which file and why."""


class ExportCancelled(Exception):
    """The person exporting cancelled; nothing is written."""


def check_target(path: str | Path) -> Path:
    """The target as a path, or :class:`ExportFileError` when it cannot be a regular file."""
    text = str(path)
    if not text.strip():
        raise ExportFileError("no file name given for the export")
    target = Path(text)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ExportFileError(f"cannot write {target}: {exc.strerror or exc}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, pipe or socket)"
        raise ExportFileError(f"cannot write {target}: it is {kind}; exports are written to regular files only")
    if not target.parent.is_dir():
        raise ExportFileError(f"cannot write {target}: the folder {target.parent} does not exist")
    return target


#: Why an export was not made when its audit entry could not be written (a full disk): an export the audit log does
#: not record is never made.
NOT_AUDITED = "the export was not made: the audit log could not record it ({}); nothing was written"


def write_atomically(path: str | Path, write: Callable[[IO[Any]], None], binary: bool,
                     before_publish: Callable[[Path], None] | None = None) -> Path:
    """Write through a temporary file beside the target, renamed over it when complete; returns the target.

    ``before_publish`` (the export's audit entry) is called with the target once the file is whole and durable,
    before it takes the target's name: when it raises, nothing is written (the target is left as it was)."""
    target = check_target(path)
    remove_left_over(target.parent, EXPORT_MARK, "export")
    try:
        # Owner-only (mkstemp makes it 0600) and locked while written: a killed export's file is found by the next.
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=EXPORT_MARK)
    except OSError as exc:
        raise ExportFileError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        hold(fd)
        text_args: dict[str, Any] = {} if binary else {"newline": "", "encoding": "utf-8"}
        with os.fdopen(fd, "wb" if binary else "w", **text_args) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        check_target(target)  # still not a device (it may have changed while the export was made)
        if before_publish is not None:
            try:
                before_publish(target)
            except Exception as exc:
                raise _NotPublished(exc) from exc
        os.replace(temporary, target)
    except _NotPublished as refused:
        _remove(temporary)
        raise refused.reason from None
    except OSError as exc:
        _remove(temporary)
        raise ExportFileError(f"cannot write {target}: {exc.strerror or exc}") from None
    except ExportFileError:
        _remove(temporary)
        raise
    except (ExportCancelled, KeyboardInterrupt):
        _remove(temporary)
        raise  # cancelled: goes up as it is, with nothing written
    except Exception as exc:
        _remove(temporary)
        log.exception("export to %s failed", target)
        raise ExportFileError(
            f"the export could not be made ({type(exc).__name__}: {exc}); nothing was written"
        ) from exc
    return target


class _NotPublished(Exception):
    """What ``before_publish`` raised (``reason``), carried past the handlers of a write that failed."""

    def __init__(self, reason: Exception) -> None:
        super().__init__(reason)
        self.reason = reason


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
