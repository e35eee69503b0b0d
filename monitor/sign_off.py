"""A physician's sign-off: the attestation that they reviewed a finished session's record.

Where a clinic runs infusions under a physician's oversight, the physician reads the record afterwards (vitals,
alarms, interventions, discharge) and signs it off. A sign-off is a timeline entry of kind ``signed_off``, as an
addendum is: written with who signed and when (wall clock), sealed in the record's hash chain with the rest of the
timeline, copied to the clinic's server with it, and audited. The recorded data do not change. Another physician
may co-sign; nobody signs the same session twice. An addendum written after a sign-off says so, since the
physician attested the record as it was before it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from monitor import text_rules
from monitor.finished import FINISHED_STATUSES, finished_row
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Reader, SessionSummary, Store
from monitor.wall_clock import clock_text

#: Who may sign off: the attestation is a physician's. An admin account manages the chair (accounts, limits,
#: profiles) and need not be a clinician's; a nurse, or an emergency sign-in (which acts as a nurse), charts the
#: session that is being attested.
SIGNER_ROLES: Final = frozenset({"physician"})
#: A sign-off's comment is a short remark; the place for more is an addendum.
MAX_COMMENT_CHARS: Final = 500
#: The audit log's action for a sign-off.
AUDIT_ACTION: Final = "signed_off"
#: What an addendum's detail holds when it was written after the session was signed off.
AFTER_SIGN_OFF_KEY: Final = "after_sign_off"


class SignOffRefused(ValueError):
    """A sign-off that cannot be written, with the reason in words a user can act on."""


@dataclass(frozen=True, slots=True)
class SignOff:
    """One physician's sign-off of a session: who, when (wall clock), as which role, with what remark."""

    t: float
    by: str
    role: str | None
    comment: str

    @classmethod
    def of(cls, event: SessionEvent) -> SignOff:
        """The sign-off a ``signed_off`` timeline entry records."""
        return cls.from_parts(event.t, event.user, event.detail)

    @classmethod
    def from_parts(cls, t: float, user: str | None, detail: Any) -> SignOff:
        """The sign-off from a stored row's time, user and detail (a mapping, or its JSON text)."""
        if isinstance(detail, str | bytes):
            detail = json.loads(detail or "{}")
        detail = detail if isinstance(detail, dict) else dict(detail or {})
        role = detail.get("role")
        return cls(float(t), user or "?", str(role) if role else None, str(detail.get("comment") or ""))

    @property
    def signer(self) -> str:
        """``Dr Mensah (physician)``."""
        return f"{self.by} ({self.role})" if self.role else self.by


def sign_offs(events: Iterable[SessionEvent]) -> list[SignOff]:
    """The session's sign-offs in the order they were written (the first one first, co-signatures after)."""
    return sorted((SignOff.of(e) for e in events if e.kind is EventKind.SIGNED_OFF), key=lambda s: s.t)


def sign_offs_of(store: Reader, session_ids: Sequence[str]) -> dict[str, list[SignOff]]:
    """Every listed session's sign-offs (a session without one is left out), in one query."""
    found: dict[str, list[SignOff]] = {}
    for session_id, t, _kind, user, detail in store.events_of_kinds(list(session_ids), [EventKind.SIGNED_OFF]):
        found.setdefault(session_id, []).append(SignOff.from_parts(t, user, detail))
    return found


def awaiting_sign_off(status: str, signed: Sequence[SignOff]) -> bool:
    """Whether a session in ``status`` with these sign-offs still waits for one (a running one cannot be signed)."""
    return status in FINISHED_STATUSES and not signed


def awaiting_among(store: Reader, summaries: Sequence[SessionSummary]
                   ) -> tuple[list[SessionSummary], dict[str, list[SignOff]]]:
    """Of ``summaries``, those awaiting a sign-off (their order kept), and the sign-offs of them all (one query)."""
    signed = sign_offs_of(store, [s.id for s in summaries if s.status in FINISHED_STATUSES])
    return [s for s in summaries if awaiting_sign_off(s.status, signed.get(s.id, []))], signed


def status_text(status: str, signed: Sequence[SignOff]) -> str:
    """A session's sign-off in a few words for a list: who signed, "awaiting", or "" while it cannot be signed."""
    if signed:
        return ", ".join(s.by for s in signed)
    return "awaiting" if status in FINISHED_STATUSES else ""


def refusal_for_role(user: str, role: str | None) -> str | None:
    """Why ``user`` signed in as ``role`` may not sign off (None: a physician may)."""
    if not user.strip() or role is None:
        return "a sign-off is a physician's: sign in to a physician's account first"
    if role not in SIGNER_ROLES:
        return f"a sign-off is a physician's: {user} is signed in as {role}, not as a physician"
    return None


def sign_off(store: Store, session_id: str, *, user: str, role: str | None, comment: str | None = None,
             now: float | None = None) -> SessionEvent:
    """Sign off a finished session as ``user`` (a signed-in physician), with an optional short comment.

    Refused, with :class:`SignOffRefused`, for another role, for a session still being recorded (or left
    unfinished), and for a second sign-off by the same person. The check and the write are one transaction, so two
    windows of the same physician cannot both sign. ``role`` is the account's, as the caller signed it in.
    """
    refused = refusal_for_role(user, role)
    if refused:
        raise SignOffRefused(refused)
    remark = text_rules.neutral_text(comment or "").strip()
    if len(remark) > MAX_COMMENT_CHARS:
        raise SignOffRefused(f"the comment is {len(remark)} characters long; a sign-off takes at most "
                             f"{MAX_COMMENT_CHARS} (write more as an addendum)")
    with store.transaction():
        row = finished_row(store, session_id, SignOffRefused, what="signing it off",
                           while_recording="this session is still being recorded: sign it off once it has ended")
        earlier = sign_offs(store.events(row["id"]))
        if any(text_rules.same_name(s.by, user) for s in earlier):
            mine = next(s for s in earlier if text_rules.same_name(s.by, user))
            raise SignOffRefused(f"{user} signed this session off already (at {_when(mine.t)}); another physician "
                                 "may co-sign it")
        detail: dict[str, Any] = {"role": role}
        if remark:
            detail["comment"] = remark
        event = SessionEvent(t=time.time() if now is None else now, kind=EventKind.SIGNED_OFF,
                             phase=Phase(row["phase"]), user=user, detail=detail)
        store.write_batch(row["id"], events=[event])
        store.audit(AUDIT_ACTION, user=user, session_id=row["id"], at=event.t, **detail)
    return event


def after_sign_off(event: SessionEvent) -> bool:
    """Whether an addendum was written after the session was signed off (the sign-off attested what came before)."""
    return event.kind is EventKind.ADDENDUM and bool(event.detail.get(AFTER_SIGN_OFF_KEY))


def _when(t: float) -> str:
    return clock_text(t, "%Y-%m-%d %H:%M")
