"""Exports from the command line and the review window: reference ranges from approved content, audited files."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from monitor.app.errors import AppError
from monitor.app.profile import reference_profile
from monitor.app.stores import RecordSource
from monitor.exports.codes import ReferenceRange, ranges_from_profile
from monitor.exports.data import ExportOptions, SessionRecord
from monitor.readings import Parameter
from monitor.store import SessionNotFound, Store, StoreError


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
            with Store(source.db, readonly=True) as approvals:
                profile, warning = reference_profile(profile_path, approvals)
        except StoreError as exc:
            raise AppError(str(exc)) from None
    return ranges_from_profile(profile), warning


def export_session(
    source: RecordSource, session_id: str, fmt: str, options: ExportOptions, *, path: str | Path | None = None,
    stream: IO[Any] | None = None, via: str | None = None,
) -> SessionRecord:
    """Export one session to a file (complete or not at all) or a stream, audited in this computer's database.

    A session read from the clinic's server is exported the same way; the audit entry names the server.
    """
    from monitor.exports import ExportError, export_to

    try:
        if not source.from_server:
            with Store(source.db) as store:
                return export_to(store, session_id, fmt, options, path=path, stream=stream, via=via)
        from monitor.app.stores import open_server

        assert source.server is not None
        with open_server(source.server) as server, Store(source.db) as local:
            return export_to(server, session_id, fmt, options, path=path, stream=stream, via=via, audit_to=local)
    except (SessionNotFound, ExportError) as exc:
        raise AppError(str(exc)) from None
