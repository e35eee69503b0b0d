"""Exports from the command line and the review window: reference ranges from approved content, audited files."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from drivers.core.readings import Parameter
from monitor.app.errors import AppError
from monitor.app.profile import reference_profile
from monitor.app.stores import RecordSource
from monitor.exports.codes import ReferenceRange, ranges_from_profile
from monitor.exports.data import ExportOptions, SessionRecord
from monitor.exports.files import NOT_AUDITED, ExportFileError, write_atomically
from monitor.store import Reader, SessionNotFound, Store, StoreError

if TYPE_CHECKING:
    from monitor.course import Course
    from monitor.rems import RemsForm


def reference_ranges(
    source: RecordSource, profile_path: str | None = None
) -> tuple[dict[Parameter, ReferenceRange], str | None]:
    """The reference ranges an export states, and a warning when the clinic profile was set aside.

    The clinic profile counts only when approved in this computer's database; reading from the
    clinic's server there is none to ask, so the built-in profile's ranges are used.
    """
    if source.from_server or not source.db.exists():
        profile, warning = reference_profile(profile_path, None)
    else:
        try:
            # Only the approvals are read here: the whole-file check is the export's own store's (a second read of a
            # year's database, seconds, would add nothing).
            with Store(source.db, readonly=True, check=False) as approvals:
                profile, warning = reference_profile(profile_path, approvals)
        except StoreError as exc:
            raise AppError(str(exc)) from None
    return ranges_from_profile(profile), warning


def export_session(
    source: RecordSource, session_id: str, fmt: str, options: ExportOptions, *, path: str | Path | None = None,
    stream: IO[Any] | None = None, via: str | None = None, on_block: Callable[[int], None] | None = None,
) -> SessionRecord:
    """Export one session to a file (complete or not at all) or a stream, audited in this computer's database.

    A session read from the clinic's server is exported the same way; the audit entry names the server.
    The readings are streamed; ``on_block`` hears how many were read so far and may raise
    :class:`~monitor.exports.files.ExportCancelled`, which passes through with nothing written.
    """
    from monitor.exports import ExportError, export_to

    try:
        if not source.from_server:
            with Store(source.db) as store:
                return export_to(store, session_id, fmt, options, path=path, stream=stream, via=via,
                                 on_block=on_block)
        from monitor.app.stores import open_server

        assert source.server is not None
        with open_server(source.server) as server, Store(source.db) as local:
            return export_to(server, session_id, fmt, options, path=path, stream=stream, via=via, audit_to=local,
                             on_block=on_block)
    except (SessionNotFound, ExportError, StoreError) as exc:
        raise AppError(str(exc)) from None


def read_course(source: RecordSource, *, mrn: str | None = None, patient_id: str | None = None) -> Course:
    """A patient's course by MRN or patient key (read from the server: every chair's sessions of the MRN)."""
    from monitor.course import CourseError, load_course, load_course_by_mrn

    try:
        with source.open() as store:
            if mrn is not None:
                return load_course_by_mrn(store, mrn)
            if patient_id is None:
                raise AppError("a course needs an MRN or a patient")
            return load_course(store, patient_id)
    except (CourseError, StoreError) as exc:
        raise AppError(str(exc)) from None


def export_course(
    source: RecordSource, course: Course, fmt: str, *, path: str | Path | None = None, stream: IO[Any] | None = None,
    deidentify: bool = False, user: str | None = None, via: str | None = None,
) -> None:
    """Write a course to a file (``path``) or a stream and audit it in this computer's database."""
    from monitor import course_export

    started = time.perf_counter()
    binary = fmt == "pdf"
    # The course was read from this source a moment ago, through a store that checked the whole file.
    source = replace(source, check_file=False)

    def audited(destination: str, server: str | None) -> None:
        """The export's audit entry, made before the file takes its name (or anything goes to the stream): an
        export the audit log cannot record (a full disk) is not made."""
        detail: dict[str, Any] = {"via": via} if via else {}
        if server is not None:
            detail["server"] = server
        try:
            with Store(source.db, check=False) as audit:
                audit.audit("course_export", user=user, patient_key=course.patient_id, format=fmt,
                            deidentified=deidentify, destination=destination, sessions=len(course.rows),
                            seconds=round(time.perf_counter() - started, 3), **detail)
        except StoreError as exc:
            raise AppError(NOT_AUDITED.format(exc)) from None

    try:
        with source.open() as store:
            server = str(store.path) if source.from_server else None
            if path is not None:
                # Through a private temporary file renamed over the target when whole: a report that fails
                # half-way neither leaves half a file nor empties the one it would have replaced.
                write_atomically(path, lambda target: course_export.write(
                    store, course, fmt, target, deidentify=deidentify, user=user), binary,
                    lambda target: audited(str(target.resolve()), server))
            elif stream is not None:
                audited("-", server)
                course_export.write(store, course, fmt, stream, deidentify=deidentify, user=user)
            else:
                raise AppError("a course export needs a file or a stream")
    except ExportFileError as exc:
        raise AppError(str(exc)) from None
    except OSError as exc:
        raise AppError(f"cannot write {path}: {exc.strerror or exc}") from None
    except StoreError as exc:
        raise AppError(str(exc)) from None


def rems_form(store: Reader, session: str) -> RemsForm:
    """A session's REMS Patient Monitoring Form as its record fills it (AppError for a session whose protocol has
    none: an IV ketamine session)."""
    from monitor import rems
    from monitor.protocols import ProtocolError, load_protocol

    try:
        row = store.session_row(session)
        protocol = load_protocol(row.get("protocol"))
    except (SessionNotFound, ProtocolError) as exc:
        raise AppError(str(exc)) from None
    if not protocol.rems:
        raise AppError(f"session {row['id'][:8]} follows {protocol.name}, which has no REMS form")
    return rems.build_form(protocol, row, store.patient_row(row.get("patient_id")), store.events(row["id"]),
                           list(store.readings(row["id"])), float(row.get("ended_at") or time.time()),
                           rems.submission(store, row["id"]))


def mark_rems_submitted(store: Store, session: str, *, user: str, reference: str | None = None,
                        incomplete_reason: str | None = None) -> RemsForm:
    """Mark a session's REMS form submitted (:func:`monitor.rems.mark_submitted`: refused for a session without a
    REMS form, one still recording, a second time, and a form with empty fields without the reason); the form."""
    from monitor import rems

    form = rems_form(store, session)
    try:
        rems.mark_submitted(store, form, user=user, reference=reference, incomplete_reason=incomplete_reason)
    except rems.RemsAnswerError as exc:
        raise AppError(str(exc)) from None
    return form


def rems_worksheet(store: Reader, session: str, path: str | Path, *, user: str | None,
                   audit_to: Store | None = None) -> RemsForm:
    """Write one session's REMS Patient Monitoring Form as a PDF worksheet to copy from, audited;
    returns the form (its ``missing()`` fields are still to be filled in). ``store`` may be the clinic's server: the
    entry then goes to ``audit_to``, this computer's database, naming the server."""
    from monitor.course_export import write_rems_worksheet

    auditor = audit_to if audit_to is not None else store
    if not isinstance(auditor, Store):
        raise AppError("a worksheet read from the server is audited in a local database")
    try:
        form = rems_form(store, session)
    except StoreError as exc:
        raise AppError(str(exc)) from None
    row = {"id": form.session_id}
    server: dict[str, Any] = {"server": str(store.path)} if audit_to is not None else {}

    def audited(target: Path) -> None:
        try:
            auditor.audit("export", user=user, session_id=row["id"], format="rems_worksheet", destination=str(target),
                          **server)
        except StoreError as exc:
            raise AppError(NOT_AUDITED.format(exc)) from None

    try:
        write_atomically(path, lambda stream: write_rems_worksheet(form, stream, author=user), True, audited)
    except ExportFileError as exc:
        raise AppError(str(exc)) from None
    return form
