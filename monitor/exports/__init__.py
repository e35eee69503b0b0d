"""Session exports. Each format is a module with ``write(record, stream)``; see :data:`FORMATS`.

A format reads its options (de-identification, session-relative time, FHIR resampling) from
``record.options``, set when the record is loaded (:func:`monitor.exports.data.load`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import IO, Any

from monitor import background_verify
from monitor.background_verify import BackgroundVerification
from monitor.exports.data import ExportCancelled, ExportOptions, SessionRecord, load, verification_text
from monitor.exports.deferred import Prepare
from monitor.store import Reader, Store, StoreError

# format name -> (module, binary output?)
FORMATS: dict[str, tuple[str, bool]] = {
    "csv": ("monitor.exports.csv_export", False),
    "csv-events": ("monitor.exports.csv_events_export", False),
    "csv-alarms": ("monitor.exports.csv_alarms_export", False),
    "json": ("monitor.exports.json_export", False),
    "hl7": ("monitor.exports.hl7_export", False),
    "fhir": ("monitor.exports.fhir_export", False),
    "pdf": ("monitor.exports.pdf_export", True),
}
#: File name endings a save dialog suggests for each format.
SUFFIXES: dict[str, str] = {
    "csv": ".csv", "csv-events": ".events.csv", "csv-alarms": ".alarms.csv", "json": ".json", "hl7": ".hl7",
    "fhir": ".fhir.json", "pdf": ".pdf",
}


class ExportError(Exception):
    """An export that cannot be produced, with the reason."""


__all__ = ["FORMATS", "SUFFIXES", "ExportCancelled", "ExportError", "ExportOptions", "SessionRecord", "export_file",
           "export_to", "load", "writer"]


def writer(fmt: str) -> tuple[Callable[[SessionRecord, IO[Any]], None], bool]:
    """The write function of a format and whether it writes bytes."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format '{fmt}'; choose from {', '.join(FORMATS)}")
    module_name, binary = FORMATS[fmt]
    module = import_module(module_name)
    write: Callable[[SessionRecord, IO[Any]], None] = module.write
    return write, binary


def export_file(
    store: Reader, session_id: str, fmt: str, path: str | Path, options: ExportOptions, *, via: str | None = None,
    audit_to: Store | None = None, on_block: Callable[[int], None] | None = None,
) -> SessionRecord:
    """Export one session to a file and record it in the audit log (see :func:`export_to`)."""
    return export_to(store, session_id, fmt, options, path=path, via=via, audit_to=audit_to, on_block=on_block)


def export_to(
    store: Reader, session_id: str, fmt: str, options: ExportOptions, *, path: str | Path | None = None,
    stream: IO[Any] | None = None, via: str | None = None, audit_to: Store | None = None,
    on_block: Callable[[int], None] | None = None,
) -> SessionRecord:
    """Export one session to a file (``path``) or a stream, and record it in the audit log (who, what format,
    where).

    The readings are streamed from the store while the export is written (a long session is never
    held whole). A file is written beside its target under a temporary name and renamed when
    complete, so a failed or cancelled export never leaves half a file; a stream (standard output)
    is written as it goes. ``on_block`` hears how many readings were read so far and may raise
    :class:`ExportCancelled` (then nothing is written or audited). ``via`` names the screen the
    export was made from. ``store`` may be the clinic's server (read-only): the entry then goes to
    ``audit_to``, this computer's database, naming the server.
    """
    from monitor.exports.files import NOT_AUDITED, ExportFileError, check_target, write_atomically

    auditor = audit_to if audit_to is not None else store
    if not isinstance(auditor, Store):
        raise ValueError("an export read from the server is audited in a local database (audit_to)")
    write, binary = writer(fmt)

    def audited(session: str, destination: str) -> None:
        """The export's audit entry, made before the file takes its name (or anything goes to the stream): an
        export the audit log cannot record (a full disk) is not made."""
        detail: dict[str, Any] = {
            "format": fmt,
            "deidentified": options.deidentify,
            "relative_time": options.shifts_time,
            "staff_names": (not options.deidentify) or options.keep_staff,
            "resample_s": options.resample_s if fmt == "fhir" else None,
            "destination": destination,
        }
        if via:
            detail["via"] = via
        if audit_to is not None:
            detail["server"] = str(store.path)
        try:
            auditor.audit("export", user=options.user, session_id=session, **detail)
        except StoreError as exc:
            raise ExportError(NOT_AUDITED.format(exc)) from None

    if path is not None:
        try:
            target = check_target(path)  # before the work: a device or a folder is refused at once
            record = load(store, session_id, options=options, stream=True, on_block=on_block, verify=False)
            publish = partial(_audit_target, audited, record.id)
            prepare: Prepare | None = getattr(import_module(FORMATS[fmt][0]), "prepare", None)
            checking = None if prepare is None else _check_in_background(store, record.id)
            if checking is None or prepare is None:
                record = replace(record, verification=verification_text(store, record.id))
                write_atomically(path, lambda f: write(record, f), binary, publish)
            else:
                record = _write_while_checking(record, prepare, checking, target, binary, publish)
        except ExportFileError as exc:
            raise ExportError(str(exc)) from None
    else:
        if stream is None:
            raise ValueError("an export needs a file or a stream")
        record = load(store, session_id, options=options, stream=True, on_block=on_block)
        audited(record.id, "stdout")
        write(record, stream)
        stream.flush()
    return record


def _audit_target(audited: Callable[[str, str], None], session: str, target: Path) -> None:
    audited(session, str(target.resolve()))


def _check_in_background(store: Reader, session_id: str) -> BackgroundVerification | None:
    """The session's record check started in a second process (None: this store cannot be read from one)."""
    if not isinstance(store, Store) or store.keys is None or not Path(store.path).is_file():
        return None
    return background_verify.start(Path(store.path), store.keys.integrity, store.keys.path, session_id,
                                   lambda: verification_text(store, session_id))


def _write_while_checking(record: SessionRecord, prepare: Prepare, checking: BackgroundVerification,
                          target: Path, binary: bool, publish: Callable[[Path], None]) -> SessionRecord:
    """Write the export while its record is checked in the second process (``publish`` before it takes its
    name); the record with its verification."""
    from monitor.exports.files import write_atomically

    checked = record

    def write(handle: IO[Any]) -> None:
        nonlocal checked
        finish = prepare(record, target.parent)  # the heavy part, while the check runs
        checked = replace(record, verification=checking.text())
        finish(checked, handle)

    try:
        write_atomically(target, write, binary, publish)
    finally:
        checking.close()
    return checked
