"""Accepting a database put back from a backup on the computer that wrote it.

The note beside the key file (:mod:`monitor.store.witness`) makes a database found behind what this computer saw
of its record fail ``verify``, and keeps the first run from being offered on it (the copy may predate accounts that
were made since). When the copy was put back on purpose, an admin accepts it: the acceptance names the entries
that recorded the finding and what they say is missing, and is itself an audit entry sealed in the chain, so
``verify`` passes again and still tells the restore. A database that has no account, and of which this computer
never saw one (nor a profile approval), may be accepted without a sign-in: nobody could sign in, and the first
run is then what it was before the restore.
"""

from __future__ import annotations

from monitor import integrity
from monitor.accounts import AuthError, Principal
from monitor.store import RESTORE_ACCEPTED_ACTION, Store
from monitor.store import accounts as rows


def waiting(store: Store) -> tuple[integrity.RestoreFound, ...]:
    """The times the database was found older than it had been that nobody has accepted yet."""
    if store.keys is None:
        raise AuthError("the key file is not available: the record cannot be checked")
    return tuple(found for found in integrity.found_restores(store.db.conn, store.keys) if not found.accepted)


def accept(store: Store, by: Principal | None) -> tuple[integrity.RestoreFound, ...]:
    """Accept every restore waiting (as ``by``, an admin; None: the database never had an account); what was
    accepted. :class:`AuthError` when ``by`` may not."""
    found = waiting(store)
    if not found:
        return ()
    if by is None:
        _refuse_without_admin(store, found)
    elif not by.may("manage_users"):
        store.audit("manage_users_refused", user=by.name, attempted="accept a restored database", reason=by.label)
        raise AuthError(f"only a signed-in admin can accept a restored database ('{by.name}' is a {by.role})")
    store.audit(RESTORE_ACCEPTED_ACTION, user=by.name if by else "first run",
                accepted=[each.entry_id for each in found], missing=[each.missing for each in found],
                found=[each.found for each in found])
    return found


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
