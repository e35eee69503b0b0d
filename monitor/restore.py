"""Accepting a database put back from a backup on the computer that wrote it.

The note beside the key file (:mod:`monitor.store.witness`) makes a database found behind what this computer saw
of its record fail ``verify``, and keeps the first run from being offered on it (the copy may predate accounts that
were made since). When the copy was put back on purpose, an admin accepts it: the acceptance names the entries
that recorded the finding and what they say is missing, and is itself an audit entry sealed in the chain, so
``verify`` passes again and still tells the restore. A database that has no account, and of which this computer
never saw one (nor a profile approval), may be accepted without a sign-in: nobody could sign in, and the first
run is then what it was before the restore.

Until then the accounts are held to those the note kept (:meth:`monitor.accounts.Accounts.held_to_note`), so the
admin who accepts is one by the note too, not only by the copy (an admin since demoted, whose older copy says
admin, is refused). Accepting makes the copy's accounts stand: the acceptance names every account whose copy
differs from the note, for the admin to check. The profile approvals are held and accepted the same way
(:func:`monitor.approval.held_to_note`): the acceptance names every approval the copy holds otherwise than this
computer saw it (one revoked since is in force again once accepted, for the admin to revoke again).
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor import approval, integrity
from monitor.accounts import Accounts, AuthError, Principal
from monitor.store import RESTORE_ACCEPTED_ACTION, Store, witness
from monitor.store import accounts as rows
from monitor.store.witness import AccountSeen, ApprovalSeen


@dataclass(frozen=True, slots=True)
class Acceptance:
    """What an acceptance accepted: the restores found, and how the copy's accounts and profile approvals differ
    from the note's."""

    restores: tuple[integrity.RestoreFound, ...]
    accounts_differing: tuple[str, ...] = ()
    approvals_differing: tuple[str, ...] = ()


def waiting(store: Store) -> tuple[integrity.RestoreFound, ...]:
    """The times the database was found older than it had been that nobody has accepted yet."""
    if store.keys is None:
        raise AuthError("the key file is not available: the record cannot be checked")
    return tuple(found for found in integrity.found_restores(store.db.conn, store.keys) if not found.accepted)


def accept(store: Store, by: Principal | None) -> Acceptance:
    """Accept every restore waiting (as ``by``, an admin signed in while the accounts were held to the note; None:
    the database never had an account); what was accepted. :class:`AuthError` when ``by`` may not."""
    found = waiting(store)
    if not found:
        return Acceptance(())
    if by is None:
        _refuse_without_admin(store, found)
    elif not by.may("manage_users"):
        store.audit("manage_users_refused", user=by.name, attempted="accept a restored database", reason=by.label)
        raise AuthError(f"only a signed-in admin can accept a restored database ('{by.name}' is a {by.role})")
    differing = accounts_differing(store)
    approvals = approvals_differing(store)
    store.audit(RESTORE_ACCEPTED_ACTION, user=by.name if by else "first run",
                accepted=[each.entry_id for each in found], missing=[each.missing for each in found],
                found=[each.found for each in found], accounts_differing=list(differing),
                approvals_differing=list(approvals))
    return Acceptance(found, differing, approvals)


def accounts_differing(store: Store) -> tuple[str, ...]:
    """How the copy's accounts differ from those this computer last vouched for, one line per account (none when
    they are held to nothing: the same, or a note from before the accounts were kept)."""
    held = Accounts(store).held_to_note()
    if held is None:
        return ()
    copy = {account.name: account for account in witness.accounts_now(store.db.conn) or ()}
    lines = (_difference(name, held.get(name), copy.get(name)) for name in sorted(held.keys() | copy.keys()))
    return tuple(line for line in lines if line)


def _difference(name: str, before: AccountSeen | None, copy: AccountSeen | None) -> str:
    """One account's difference between the note (``before``) and the copy, or "" when there is none."""
    if copy is None:
        return f"{name}: not in the copy (was {_state(before)})"
    if before is None:
        return f"{name}: only in the copy ({_state(copy)})"
    changes = [f"{_state(copy)} in the copy, {_state(before)} before"] if _state(copy) != _state(before) else []
    if copy.secret_hash != before.secret_hash:
        changes.append("its PIN/password in the copy is not the one it had before")
    return f"{name}: {'; '.join(changes)}" if changes else ""


def approvals_differing(store: Store) -> tuple[str, ...]:
    """How the copy's profile approvals differ from those this computer last vouched for, one line per profile
    (none when they are held to nothing)."""
    held = approval.held_to_note(store)
    if held is None:
        return ()
    copy = {each.sha256: each for each in witness.approvals_now(store.db.conn) or ()}
    lines = (_approval_difference(held.get(sha256), copy.get(sha256)) for sha256 in sorted(held.keys() | copy.keys()))
    return tuple(line for line in lines if line)


def _approval_difference(before: ApprovalSeen | None, copy: ApprovalSeen | None) -> str:
    """One approval's difference between the note (``before``) and the copy, or "" when they agree on whether it
    is in force."""
    either = copy or before
    assert either is not None
    named = f"{either.name} (sha256 {either.sha256[:12]})"
    if copy is None:
        return f"{named}: not in the copy (was {_approval_state(before)})"
    if before is None:
        return f"{named}: only in the copy ({_approval_state(copy)})"
    if copy.approved == before.approved:
        return ""
    return f"{named}: {_approval_state(copy)} in the copy, {_approval_state(before)} before"


def _approval_state(seen: ApprovalSeen | None) -> str:
    """``approved by ann`` or ``revoked by ann``."""
    if seen is None:
        return "unknown"
    return f"{'approved' if seen.approved else 'revoked'} by {seen.by}"


def _state(account: AccountSeen | None) -> str:
    """``admin`` or ``nurse, disabled``."""
    if account is None:
        return "unknown"
    return account.role + (", disabled" if account.disabled else "")


def _refuse_without_admin(store: Store, found: tuple[integrity.RestoreFound, ...]) -> None:
    """Refuse an acceptance without a sign-in unless the database, and what this computer saw of it, never
    held an account or a profile approval."""
    if rows.count_users(store.db) or integrity.has_sealed_accounts(store.db.conn) or rows.audited(store.db,
                                                                                                 "user_added"):
        raise AuthError("this database has (or had) accounts: an admin accepts the restore (give --user ADMIN)")
    if any(each.account_links_seen != 0 for each in found):
        raise AuthError(
            "the record this computer saw held accounts or profile approvals (or, noted by an earlier version, may "
            "have) that this copy lacks: restore a newer backup that holds them and accept it as their admin; "
            "an older copy without them is not accepted without an admin (it would let anyone make the first one)")
