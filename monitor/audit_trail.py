"""Reading the audit log: who did what, when, to which session — for a compliance officer or a physician.

The audit log (append-only, in the record's chain) holds every command and every refusal, exports, sign-ins,
accounts and settings. It is read here with filters (a session, a person, an action, a span of days), by a
signed-in admin or physician only: it names every person and what they looked at (a database without accounts has
nobody to sign in, and its operating-system user reads it, as it closes a session there). The reading is itself written
to the audit log before anything is shown (a reading the log cannot record is not shown, as an export it cannot
record is not made), and what is shown says first whether the audit log verified: its own entries against their
links in the record's chain (and the session's rows when one is asked for), not the whole record, which
``verify`` checks (reading every reading again took most of a minute on a chair's year).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Final

from drivers.core.readings import iso_utc
from monitor.accounts import ADMIN, KIND_OS_USER, Accounts, Principal
from monitor.exports.csv_tables import spreadsheet_text
from monitor.store import Store, StoreError
from monitor.text_rules import terminal_text
from monitor.wall_clock import clock_text, moments_shown

if TYPE_CHECKING:
    from monitor.integrity import VerifyReport

#: The roles that may read the audit log.
READERS: Final = frozenset({ADMIN, "physician"})
#: Said when nobody signed in to read the audit log of a database that has accounts.
NEEDS_ACCOUNT: Final = "reading the audit log needs a signed-in admin or physician on this database: give --user NAME"
FORMATS: Final = ("text", "csv", "json")
COLUMNS: Final = ("id", "at", "user", "action", "session_id", "detail", "check")


class AuditReadError(Exception):
    """The audit log cannot be read as asked (who asks, a filter that means nothing, a log that cannot record)."""


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which entries: every filter given must match (None: any)."""

    session_id: str | None = None
    user: str | None = None
    action: str | None = None
    since: float | None = None
    until: float | None = None

    def described(self) -> dict[str, Any]:
        """The filters given but the session (the entry's own column), for the audit entry recording the reading."""
        given = {"by": self.user, "of_action": self.action,
                 "since": None if self.since is None else iso_utc(self.since),
                 "until": None if self.until is None else iso_utc(self.until)}
        return {key: value for key, value in given.items() if value is not None}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log as read."""

    id: int
    at: float
    user: str | None
    action: str
    session_id: str | None
    detail: dict[str, Any]
    #: What the reading found of the entry against the database now (a listing's digest), if anything.
    check: str | None = None

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> AuditEntry:
        try:
            detail = json.loads(row.get("detail") or "{}")
        except ValueError:
            detail = {"unreadable": str(row.get("detail"))}
        return cls(int(row["id"]), float(row["at"]), row.get("user"), str(row["action"]), row.get("session_id"),
                   detail if isinstance(detail, dict) else {"value": detail})


@dataclass(frozen=True, slots=True)
class AuditReading:
    """What a reading found: the record's verification line and the entries."""

    verified: str
    entries: tuple[AuditEntry, ...]


def _checked(entries: Sequence[AuditEntry], store: Store) -> tuple[AuditEntry, ...]:
    """The entries, each listing that kept a digest checked against the sessions this database holds now (read
    once for them all, and only when such a listing is shown)."""
    from monitor.session_list import listing_checked

    sessions_now = functools.cache(lambda: store.sessions(None))
    return tuple(dataclasses.replace(e, check=listing_checked(e.detail, sessions_now))
                 if e.action == "sessions_listed" else e for e in entries)


def day_bound(text: str, *, end: bool = False) -> float:
    """A time from ``YYYY-MM-DD`` (local midnight; with ``end``, the midnight after, so that the day is included) or
    an ISO date and time (local unless it names its offset; a local time the clock showed twice or never is
    refused)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise AuditReadError(f"'{text}' is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM)") from None
    if moment.tzinfo is not None:
        return moment.timestamp()
    if len(text.strip()) == 10:  # a whole day: from its first moment, or to the first moment of the next
        if end:
            moment += dt.timedelta(days=1)
        return moment.timestamp()
    return _local_moment(text.strip(), moment)


def _local_moment(text: str, wall: dt.datetime) -> float:
    """The one moment at which this computer's clock read ``wall``; a time it read twice (the clocks went back) or
    never (they went forward) is refused, naming the two moments it could mean: taken silently, an auditor asking
    for 01:30-01:45 on the night the clocks went back lost the second pass, and 02:30 on the night they went
    forward became 01:30, an hour before the time asked for."""
    shown = moments_shown(wall)
    if len(shown) == 1:
        return shown[0]
    readings = [_with_offset(text, wall, wall.replace(fold=fold).timestamp()) for fold in (0, 1)]
    what = "came twice on this computer's clock (the clocks went back)" if shown else \
        "never showed on this computer's clock (the clocks went forward)"
    raise AuditReadError(f"'{text}' {what}: add the UTC offset meant, {readings[0]} or {readings[1]}")


def _with_offset(text: str, wall: dt.datetime, t: float) -> str:
    """``text`` with the UTC offset that makes it the moment ``t``, and that moment as the clock showed it."""
    offset = wall - dt.datetime.fromtimestamp(t, dt.UTC).replace(tzinfo=None)
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"'{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}' ({clock_text(t, '%H:%M', zone=True)})"


def read_audit(store: Store, query: AuditQuery, reader: Principal, **how: Any) -> AuditReading:
    """The entries ``query`` asks for, read by ``reader`` (a signed-in admin or physician; on a database without
    accounts, the operating-system user), the reading recorded first with ``how`` it is shown (format,
    destination). ``query.session_id`` may be ``latest`` or the start of an
    id. A refused reader is recorded too, as a refused alarm command is."""
    from monitor.integrity import verify

    if reader.kind == KIND_OS_USER:
        # Nobody signed in: on a database without accounts (a chair that only runs `record`) there is no account to
        # give, so its operating-system user reads, as it closes a session there; where there are accounts, refused.
        if Accounts(store).has_accounts():
            raise AuditReadError(NEEDS_ACCOUNT)
    elif not reader.authenticated or reader.role not in READERS:
        with contextlib.suppress(StoreError):  # refused all the same when the log cannot take it
            store.audit("audit_log_read_refused", user=reader.name, role=reader.role, **query.described())
        raise AuditReadError("the audit log is read by a signed-in admin or physician (give --user NAME); "
                             f"'{reader.label}' may not")
    if query.since is not None and query.until is not None and query.until <= query.since:
        raise AuditReadError("--until is not after --since: no entry can match")
    session_id = query.session_id
    if session_id is not None:
        session_id = str(store.session_row(session_id)["id"])  # SessionNotFound names what was not found
        query = AuditQuery(session_id, query.user, query.action, query.since, query.until)
    verified = verified_line(verify(store.db.conn, store.keys, session_id=session_id, audit_log=True), session_id)
    rows = store.audit_entries(session_id=query.session_id, user=query.user, action=query.action,
                               since=query.since, until=query.until)
    try:
        store.audit("audit_log_read", user=reader.name, session_id=session_id, entries=len(rows),
                    **query.described(), **how)
    except StoreError as exc:
        raise AuditReadError(f"the audit log was not shown: who read it could not be recorded ({exc})") from None
    return AuditReading(verified, _checked([AuditEntry.of_row(row) for row in rows], store))


def verified_line(report: VerifyReport, session_id: str | None) -> str:
    """The first line of a reading: what was checked (the audit log, and the session's rows when one was asked for)
    and whether it verified."""
    what = "audit log" if session_id is None else f"audit log and session {session_id[:8]}"
    if report.ok:
        return (f"verified: {what} intact ({report.links} chain links checked; the whole record: "
                "`infusion-monitor verify`)")
    first = report.first_broken
    if first is not None:
        return f"NOT VERIFIED: {first.text()}"
    waiting = report.restores_waiting
    return ("NOT VERIFIED: records are missing: the database was put back to an older copy of itself"
            + (f" (missing: {waiting[0].missing})" if waiting else "") + " (`infusion-monitor verify`)")


def _detail_text(detail: dict[str, Any]) -> str:
    return " ".join(f"{key}={json.dumps(value, ensure_ascii=False, default=str)}" for key, value in detail.items())


def write_text(reading: AuditReading, out: IO[str]) -> None:
    """One line an entry: local time, who, action, session, detail."""
    out.write(reading.verified + "\n")
    for e in reading.entries:
        session = (e.session_id or "-")[:8]
        line = f"{clock_text(e.at, '%Y-%m-%d %H:%M:%S')}  {e.user or '-':16} {e.action:28} {session:8}  "
        out.write(terminal_text(line + _detail_text(e.detail)).rstrip() + "\n")
        if e.check is not None:
            out.write(f"{'':22}{e.check}\n")
    out.write(f"{len(reading.entries)} entr{'y' if len(reading.entries) == 1 else 'ies'}\n")


def write_csv(reading: AuditReading, out: IO[str]) -> None:
    """The verification line, then one row an entry (UTC times; typed text never runs as a formula)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"# {reading.verified}"])
    writer.writerow(COLUMNS)
    for e in reading.entries:
        writer.writerow((e.id, iso_utc(e.at), spreadsheet_text(e.user), e.action, e.session_id or "",
                         spreadsheet_text(json.dumps(e.detail, ensure_ascii=False, default=str)), e.check or ""))


def write_json(reading: AuditReading, out: IO[str]) -> None:
    """``{"verified": …, "entries": [...]}`` with UTC times."""
    entries: Sequence[dict[str, Any]] = [
        {"id": e.id, "at": iso_utc(e.at), "user": e.user, "action": e.action, "session_id": e.session_id,
         "detail": e.detail, **({"check": e.check} if e.check is not None else {})}
        for e in reading.entries
    ]
    json.dump({"verified": reading.verified, "entries": entries}, out, indent=1, ensure_ascii=False, default=str)
    out.write("\n")


WRITERS: Final = {"text": write_text, "csv": write_csv, "json": write_json}
