"""A session whose recording is over: the only kind that still takes anything (addenda, a physician's sign-off)."""

from __future__ import annotations

from typing import Any, Final

from monitor.store import Store

#: Sessions whose recording is over; only they take addenda and sign-offs (a running one takes notes instead).
FINISHED_STATUSES: Final = frozenset({"complete", "closed"})


def finished_row(store: Store, session_id: str, refused: type[ValueError], *, while_recording: str,
                 what: str) -> dict[str, Any]:
    """The row of a finished session; ``refused`` raised otherwise, with ``while_recording`` for a session still
    being recorded and, for one left unfinished, that it is to be resumed or closed before ``what``."""
    row = store.session_row(session_id)
    status = store.status_of(row)
    if status == "recording":
        raise refused(while_recording)
    if status not in FINISHED_STATUSES:
        raise refused(f"this session is {status}: resume or close it before {what}")
    return row
