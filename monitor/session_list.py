"""What a session list keeps of itself in the audit log: enough to tell what was shown, in an entry of bounded size.

A list can show thousands of sessions (``sessions --all``, or a clinic's year read from its server). Its every id
once went into the append-only audit log, 432 KB an entry at 12,004 sessions, never to be deleted. An entry now keeps
the filter, how many sessions were shown of how many it found, the newest and oldest start shown, and the ids
themselves when at most :data:`IDS_KEPT` were shown; over that a SHA-256 of them (:func:`listed_digest`), which the
same listing made again can be checked against (sessions are never deleted, and a session's start never changes).
``audit`` makes it again (:func:`listing_checked`): the sessions whose start lies between the oldest and the newest
shown, newest first, are the ones listed when their digest is the entry's; when it is not, the sessions have changed
since (one removed, added or re-dated), and the entry no longer tells which were shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Final

from drivers.core.readings import iso_utc
from monitor.store import SessionSearch, SessionSummary

#: At most this many ids are kept in a listing's audit entry; a longer list keeps their digest.
IDS_KEPT: Final = 50


def listed_digest(session_ids: Sequence[str]) -> str:
    """The SHA-256 (hex) of the ids in the order shown, one per line."""
    return hashlib.sha256("\n".join(session_ids).encode("ascii", "replace")).hexdigest()


def search_described(search: SessionSearch) -> dict[str, Any]:
    """The criteria of a search as an audit entry keeps them. The MRN part typed is kept only as "given": the audit
    log keeps no patient identifier (the ids listed name the patients to whoever may read them)."""
    described: dict[str, Any] = {}
    if search.started_from is not None:
        described["started_from"] = iso_utc(search.started_from)
    if search.started_before is not None:
        described["started_before"] = iso_utc(search.started_before)
    if search.mrn_contains:
        described["mrn_part"] = True
    if search.highest_alarm is not None:
        described["highest_alarm"] = search.highest_alarm.label
    if search.min_alarm is not None:
        described["min_alarm"] = search.min_alarm.label
    if search.no_alarms:
        described["no_alarms"] = True
    return described


def listing_entry(shown: Sequence[SessionSummary], *, found: int, criteria: dict[str, Any]) -> dict[str, Any]:
    """The detail of a ``sessions_listed`` audit entry: the criteria, ``shown`` of ``found``, the newest and oldest
    start shown, and the ids (at most :data:`IDS_KEPT`) or their digest. Its size does not grow with the list."""
    entry: dict[str, Any] = {"criteria": criteria, "shown": len(shown), "found": found}
    if shown:
        starts = [s.started_at for s in shown]
        entry["newest_start"] = iso_utc(max(starts))
        entry["oldest_start"] = iso_utc(min(starts))
    return {**entry, **ids_kept([s.id for s in shown])}


def ids_kept(session_ids: Sequence[str]) -> dict[str, Any]:
    """What an audit entry of a list keeps of the sessions it showed: their ids up to :data:`IDS_KEPT`, over that
    their digest."""
    if len(session_ids) <= IDS_KEPT:
        return {"sessions": list(session_ids)}
    return {"sessions_sha256": listed_digest(session_ids)}


#: The criteria under which a listing can be made again from its entry: every session, newest first, within a span
#: of starts. The others (unsigned, one patient, an MRN part, alarms) select by what may have changed since, or by
#: what the entry does not keep.
MADE_AGAIN: Final = frozenset({"limit", "started_from", "started_before"})


def listing_checked(detail: dict[str, Any], sessions_now: Callable[[], Sequence[SessionSummary]]) -> str | None:
    """What ``audit`` says of a ``sessions_listed`` entry that kept a digest, once the listing is made again from
    ``sessions_now`` (every session in this database, newest first); None for an entry that kept the ids."""
    digest = detail.get("sessions_sha256")
    if not isinstance(digest, str):
        return None
    if "server" in detail:
        return "listing not checked: it was read from the clinic's server, where its sessions are"
    criteria = detail.get("criteria")
    other = sorted(set(criteria) - MADE_AGAIN) if isinstance(criteria, dict) else ["(unreadable criteria)"]
    if other:
        return f"listing not checked: made with {', '.join(other)}, which its entry cannot make again"
    oldest, newest = str(detail.get("oldest_start")), str(detail.get("newest_start"))
    # Starts as the entry wrote them (ISO, UTC, milliseconds), so that the span is the entry's to the millisecond.
    again = [s.id for s in sessions_now() if oldest <= iso_utc(s.started_at) <= newest]
    span = f"started from {oldest} to {newest}"
    if listed_digest(again) == digest:
        return f"listing checked: its digest matches the {len(again)} sessions {span}"
    return (f"LISTING DOES NOT MATCH its digest: the {len(again)} sessions {span} are not the {detail.get('shown')} "
            "listed (a session was removed, added or its start changed since)")
