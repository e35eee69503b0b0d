"""Named accounts with a secret: who may do what at the chair.

An account has a name, a role granted by an admin (nurse, physician, admin) and a PIN or
password stored only as an argon2id hash (``argon2-cffi``, its RFC 9106 parameters). Repeated
failures lock the account with a growing back-off. Each account row carries a keyed hash
(key outside the database) over name, role, secret hash and state, so a role written into the
database by hand is refused rather than trusted; every version of a row is sealed in the record's
hash chain (:mod:`monitor.integrity`), so an earlier version put back is refused too. The whole
database put back to an older copy of itself brings its own accounts back with a correct chain: until
an admin accepts that restore, each account is held to the stricter of the copy and the accounts noted
beside the key file (:func:`monitor.store.witness.held_accounts`). Every sign-in, failure, lock-out and
change is in the audit log.

Who did something is a :class:`Principal`: an authenticated account, the operating-system user
of a headless recording (no role), or an audited emergency (break-glass) sign-in.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import hmac
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Final, NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from monitor import integrity, text_rules
from monitor.keys import Keys
from monitor.store import accounts as rows
from monitor.store import witness
from monitor.store.accounts import UserRow
from monitor.store.restores import ROLLED_BACK_ACTION
from monitor.store.witness import AccountSeen

ROLES: Final = ("nurse", "physician", "admin")
ADMIN: Final = "admin"
MIN_SECRET_LENGTH: Final = 6
MAX_NAME_LENGTH: Final = 40
#: Failures in a row allowed before the account locks; each further failure doubles the wait.
FREE_FAILURES: Final = 5
FIRST_LOCK_S: Final = 30.0
MAX_LOCK_S: Final = 15 * 60.0

#: What each kind of action needs. Everything not listed needs only someone identified.
ADMIN_ACTIONS: Final = frozenset(
    {"set_limit", "alarms_off", "alarms_on", "audio_off", "audio_on", "load_profile", "approve_profile",
     "manage_users"}
)

# Tests replace this with cheaper parameters; production uses argon2-cffi's RFC 9106 defaults.
HASHER: PasswordHasher = PasswordHasher()

KIND_ACCOUNT: Final = "account"
KIND_OS_USER: Final = "os_user"
KIND_BREAK_GLASS: Final = "break_glass"


class AuthError(Exception):
    """A sign-in or account change that is refused; the message can be shown as is."""


#: Why nobody can sign in, nor be made the first admin, once the accounts' rows were removed by hand.
ACCOUNTS_REMOVED = (
    "this database's accounts were removed outside this program (its record still holds them): restore the "
    "database from a backup ('infusion-monitor verify' names what was removed), then an admin of that copy "
    f"accepts the restore ('{integrity.ACCEPT_RESTORE}'); emergency sign-in still works"
)
#: Why the first admin cannot be created yet on a database put back to an older copy of itself.
RESTORE_NOT_ACCEPTED = (
    "this database was put back to an older copy of itself (a backup restored?) and nobody has accepted that yet, "
    "so whether accounts were made after that copy is not known: if it was a legitimate restore, accept it with "
    "'infusion-monitor verify --accept-restore' ('infusion-monitor verify' names what is missing); emergency "
    "sign-in still works"
)


#: Why an account the copy holds, but this computer's note of the accounts does not, is refused until the restore is
#: accepted.
NOT_SEEN_BEFORE_RESTORE = (
    "the account '{name}' came with the older copy of this database that was put back, and this computer never saw "
    "it in the database before: it may sign in once an admin accepts the restore ('{accept}'); emergency sign-in "
    "still works"
)


def stricter_role(first: str, second: str) -> str:
    """The lesser of two roles (an unknown one counts as the least)."""
    return min(first, second, key=lambda role: ROLES.index(role) if role in ROLES else -1)


class LockedOut(AuthError):
    """Too many failed sign-ins: the account waits ``retry_after_s`` before the next try."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: an account (with its granted role), the OS user, or a break-glass clinician."""

    name: str
    role: str | None
    kind: str = KIND_ACCOUNT
    reason: str = ""

    @property
    def authenticated(self) -> bool:
        """True for a signed-in account (a secret was checked)."""
        return self.kind == KIND_ACCOUNT

    def may(self, action: str) -> bool:
        """Whether this principal's role allows ``action``."""
        if action in ADMIN_ACTIONS:
            return self.authenticated and self.role == ADMIN
        return True

    @property
    def label(self) -> str:
        """e.g. ``AB (nurse)``, ``EMERGENCY: Dr X``."""
        if self.kind == KIND_BREAK_GLASS:
            return f"EMERGENCY: {self.name}"
        if self.kind == KIND_OS_USER:
            return f"{self.name} (not signed in)"
        return f"{self.name} ({self.role})"


def os_user() -> Principal:
    """The operating-system user, for a headless recording nobody signed in to."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Principal(f"os:{name}", None, KIND_OS_USER)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """An account as ``users list`` shows it (never the secret hash)."""

    name: str
    role: str
    disabled: bool
    failures: int
    locked_until: float | None
    created_at: float
    created_by: str | None


#: Who the record names for what anyone may do at a locked screen (pause the alarm sound): no account's name.
LOCKED_SCREEN_USER: Final = "anyone at the locked screen"


def check_name(name: str) -> str:
    """A usable account name (trimmed), or :class:`AuthError`."""
    name = _staff_name(name, "account name")
    if not name:
        raise AuthError("an account needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise AuthError(f"an account name is at most {MAX_NAME_LENGTH} printable characters")
    if name.lower().startswith(("os:", "emergency")) or name.lower() == LOCKED_SCREEN_USER:
        raise AuthError("that name is reserved")
    return name


def _staff_name(name: str, what: str) -> str:
    """A staff name in its stored form ("" for none); :class:`AuthError` naming a character a name may not hold
    (the rule patients' names follow, :func:`monitor.text_rules.typed_name`)."""
    try:
        return text_rules.typed_name(name, what) or ""
    except ValueError as exc:
        raise AuthError(str(exc)) from None


def check_secret(secret: str) -> str:
    """A usable PIN or password, or :class:`AuthError`."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise AuthError(f"a PIN or password needs at least {MIN_SECRET_LENGTH} characters")
    if secret != secret.strip():
        raise AuthError("a PIN or password cannot begin or end with a space")
    return secret


def _row_mac(keys: Keys, name: str, role: str, secret_hash: str, disabled: int) -> str:
    message = "\x1f".join(("user", name.lower(), role, secret_hash, str(int(disabled)))).encode()
    return hmac.new(keys.integrity, message, hashlib.sha256).hexdigest()


def why_untrusted(keys: Keys, conn: Any, row: UserRow) -> str | None:
    """Why an account row of the database on ``conn`` is not as this program last wrote it (None: it is)."""
    expected = _row_mac(keys, row.name, row.role, row.secret_hash, int(row.disabled))
    if not hmac.compare_digest(expected, row.mac):
        return "its keyed hash does not match"
    return integrity.why_untrusted(conn, keys, "users", row.name)


def lock_seconds(failures: int) -> float:
    """How long an account stays locked after ``failures`` failures in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_LOCK_S, FIRST_LOCK_S * math.pow(2, failures - FREE_FAILURES))


class Accounts:
    """The accounts of one database (use on the thread that owns the store)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    @property
    def _keys(self) -> Keys:
        keys: Keys | None = getattr(self.store, "keys", None)
        if keys is None:
            raise AuthError("the key file is not available: accounts cannot be checked")
        return keys

    def has_accounts(self) -> bool:
        """True once the first admin exists: an account row, or an account sealed in the hash chain.

        Rows removed by hand leave their links behind, so emptying the table does not reopen the first run
        (which creates an admin without anyone signed in). Neither does removing the rows with their links (and
        the chain with them): the audit log still says accounts were added, or that the database was found behind
        what this computer saw of its record.
        """
        return rows.count_users(self.store.db) > 0 or self._accounts_removed()

    def removed_outside(self) -> bool:
        """Every account row is gone while the record shows accounts: they were removed outside this program."""
        return rows.count_users(self.store.db) == 0 and self._accounts_removed()

    def _accounts_removed(self) -> bool:
        """The record holds an account, or lost links that nobody accepted as a restore (its accounts' among them,
        for all it can tell)."""
        return self._record_had_accounts() or self._restore_not_accepted()

    def _record_had_accounts(self) -> bool:
        return integrity.has_sealed_accounts(self.store.db.conn) or rows.audited(self.store.db, "user_added")

    def _restore_not_accepted(self) -> bool:
        keys: Keys | None = getattr(self.store, "keys", None)
        if keys is None:
            return rows.audited(self.store.db, ROLLED_BACK_ACTION)  # no acceptance can be checked without the key
        return any(not found.accepted for found in integrity.found_restores(self.store.db.conn, keys))

    def held_to_note(self) -> dict[str, AccountSeen] | None:
        """The accounts as this computer last vouched for them (by name), while the database is an older copy of
        itself put back that nobody accepted yet and its accounts differ from them; None otherwise (also when the
        note beside the key file was written by a version that did not keep them)."""
        keys: Keys | None = getattr(self.store, "keys", None)
        path = getattr(self.store, "path", None)
        if keys is None or path is None:
            return None
        return witness.held_accounts(keys, path, self.store.db.conn)

    def removed_reason(self) -> str:
        """Why nobody can sign in nor be made the first admin while :meth:`removed_outside` holds."""
        return ACCOUNTS_REMOVED if self._record_had_accounts() else RESTORE_NOT_ACCEPTED

    def _row(self, name: str) -> UserRow | None:
        # An account is stored under its name's stored form; one created before names were normalised is found by
        # the name as typed.
        typed = name.strip()
        return rows.user(self.store.db, text_rules.stored_name(typed)) or rows.user(self.store.db, typed)

    def listing(self) -> list[AccountInfo]:
        """Every account, by name."""
        return [
            AccountInfo(r.name, r.role, r.disabled, r.failures, r.locked_until, r.created_at, r.created_by)
            for r in rows.users(self.store.db)
        ]

    def _require_admin(self, by: Principal | None, what: str) -> None:
        if not self.has_accounts():
            return  # the first run: the first account is created without one (and must be an admin)
        if by is None and self.removed_outside():
            raise AuthError(self.removed_reason())
        if by is None or not by.may("manage_users"):
            who = by.label if by is not None else "nobody signed in"
            self.store.audit("manage_users_refused", user=by.name if by else None, attempted=what, reason=who)
            raise AuthError(f"only a signed-in admin can {what} ({who})")

    def add(self, name: str, role: str, secret: str, *, by: Principal | None) -> Principal:
        """Create an account; the first one ever must be an admin and needs nobody signed in."""
        name = check_name(name)
        if role not in ROLES:
            raise AuthError(f"unknown role '{role}'; choose from {', '.join(ROLES)}")
        first = not self.has_accounts()
        if first and role != ADMIN:
            raise AuthError("the first account must be an admin (it manages the others)")
        self._require_admin(by, f"add the account '{name}'")
        check_secret(secret)
        if self._row(name) is not None:
            raise AuthError(f"an account named '{name}' already exists")
        secret_hash = HASHER.hash(secret)
        now = time.time()
        with self.store.sealed_write("users", [name]):
            # Checked again under the write lock: another first-run dialog (the launcher double-clicked on a fresh
            # install) may have made its admin while this secret was being hashed.
            if first and self.has_accounts():
                raise AuthError(self._first_admin_taken(name))
            if self._row(name) is not None:
                raise AuthError(f"an account named '{name}' already exists")
            rows.insert_user(self.store.db, UserRow(
                name, role, secret_hash, disabled=False, failures=0, locked_until=None, created_at=now,
                created_by=by.name if by else None, changed_at=now,
                mac=_row_mac(self._keys, name, role, secret_hash, 0)))
            self.store.audit("user_added", user=by.name if by else "first run", account=name, role=role)
        return Principal(name, role)

    def _first_admin_taken(self, name: str) -> str:
        """Why ``name`` was not made the first admin: another start made its own a moment before."""
        admins = [a.name for a in self.listing() if a.role == ADMIN]
        other = f"'{admins[0]}'" if admins else "another account"
        return (f"'{name}' was not created: {other} was made the first admin a moment ago (from another window or "
                f"command on this database); sign in with {other}, which can add this account")

    def _update(self, name: str, *, by: Principal | None, action: str, trusted: bool = True,
                **changes: Any) -> None:
        """Write ``changes`` to an account (``trusted``: only to a row this program last wrote)."""
        row = self._row(name)
        if row is None:
            raise AuthError(f"no account named '{name}'")
        altered = self._why_untrusted(row)
        if trusted and altered:
            raise self._altered(row, altered)
        typed: dict[str, Any] = {k: bool(v) if k == "disabled" else v for k, v in changes.items()}
        merged = replace(row, **typed)
        merged = replace(merged, changed_at=time.time(),
                         mac=_row_mac(self._keys, merged.name, merged.role, merged.secret_hash, int(merged.disabled)))
        with self.store.sealed_write("users", [row.name]):
            rows.update_user(self.store.db, merged, changes)
            shown = {k: v for k, v in changes.items() if k != "secret_hash"}
            if altered:
                shown["altered"] = altered
            self.store.audit(action, user=by.name if by else None, account=row.name, **shown)

    def set_secret(self, name: str, secret: str, *, by: Principal | None) -> None:
        """A new PIN or password (an admin for anyone, or the account itself after signing in)."""
        # "Its own": the account the name finds is the one signed in (compared as stored: the database folds only
        # ASCII letters' case, so "Éva" and "éva" are two accounts).
        row = self._row(name)
        if by is None or not (by.authenticated and row is not None and row.name == by.name):
            self._require_admin(by, f"change the secret of '{name}'")
        check_secret(secret)
        self._update(name, by=by, action="user_secret_changed", secret_hash=HASHER.hash(secret), failures=0,
                     locked_until=None)

    def _check_grant(self, name: str, role: str, by: Principal | None, what: str) -> None:
        """``by`` may give ``name`` the role ``role``: an admin, a known role, and the last admin stays one."""
        if role not in ROLES:
            raise AuthError(f"unknown role '{role}'; choose from {', '.join(ROLES)}")
        self._require_admin(by, what)
        row = self._row(name)
        if row is not None and row.role == ADMIN and role != ADMIN and self._admins() <= 1:
            raise AuthError("this is the only admin: grant another account the admin role first")

    def set_role(self, name: str, role: str, *, by: Principal | None) -> None:
        """Grant another role (admin only); the last admin keeps the admin role."""
        self._check_grant(name, role, by, f"change the role of '{name}'")
        self._update(name, by=by, action="user_role_changed", role=role)

    def set_disabled(self, name: str, disabled: bool, *, by: Principal | None) -> None:
        """Disable (or re-enable) an account; the last admin cannot be disabled."""
        self._require_admin(by, f"{'disable' if disabled else 'enable'} '{name}'")
        row = self._row(name)
        if disabled and row is not None and row.role == ADMIN and self._admins() <= 1:
            raise AuthError("this is the only admin: it cannot be disabled")
        self._update(name, by=by, action="user_disabled" if disabled else "user_enabled", disabled=int(disabled))

    def reset(self, name: str, role: str, secret: str, *, by: Principal | None) -> None:
        """Write an account again whole (admin only): role, a new secret, enabled, unlocked.

        The way back for an account refused as altered outside this program: everything that grants
        something (role, secret, state) is stated anew by the admin, none of it kept from the row.
        """
        self._check_grant(name, role, by, f"reset '{name}'")
        check_secret(secret)
        self._update(name, by=by, action="user_reset", trusted=False, role=role, secret_hash=HASHER.hash(secret),
                     disabled=0, failures=0, locked_until=None)

    def unlock(self, name: str, *, by: Principal | None) -> None:
        """Clear a lock-out (admin only)."""
        self._require_admin(by, f"unlock '{name}'")
        self._update(name, by=by, action="user_unlocked", failures=0, locked_until=None)

    def _admins(self) -> int:
        return rows.count_enabled(self.store.db, ADMIN)

    def _why_untrusted(self, row: UserRow) -> str | None:
        """Why a stored account is not as this program last wrote it (None: it is)."""
        return why_untrusted(self._keys, self.store.db.conn, row)

    def _refuse_unknown(self, typed: str, secret: str, now: float) -> NoReturn:
        """A name no account has gets the work and the answers a wrong secret gets, lock-outs included, so guessing
        does not tell which names exist. Its failures are counted in the audit log's entries."""
        failures, locked_until = rows.unknown_name_failures(self.store.db, typed) if typed else (0, None)
        if locked_until is not None and locked_until - now > lock_seconds(failures):
            locked_until = now + lock_seconds(failures)  # the clock was set back: the lock runs its own length
        _dummy_verify(secret)
        if locked_until is not None and now < locked_until:
            left = locked_until - now
            self.store.audit("sign_in_refused", user=typed or None, reason="locked out", wait_s=round(left),
                             unknown_name=True, failures=failures, locked_until=locked_until)
            raise _locked_out(left)
        wait = lock_seconds(failures + 1)
        self.store.audit("sign_in_failed", user=typed or None, reason="unknown name", unknown_name=True,
                         failures=failures + 1, locked_s=wait, locked_until=now + wait if wait else None)
        raise _not_recognised(wait)

    @staticmethod
    def _altered(row: UserRow, why: str) -> AuthError:
        return AuthError(f"the account '{row.name}' was altered outside this program ({why}); an admin must "
                         f"reset it: infusion-monitor users reset {row.name} --role ROLE")

    def authenticate(self, name: str, secret: str, *, now: float | None = None) -> Principal:
        """The account if ``secret`` is right; :class:`AuthError` (or :class:`LockedOut`) otherwise."""
        now = time.time() if now is None else now
        row = self._row(name)
        if row is None:
            if self.removed_outside():
                self.store.audit("sign_in_refused", user=name.strip()[:MAX_NAME_LENGTH] or None,
                                 reason="accounts removed outside this program")
                raise AuthError(self.removed_reason())
            self._refuse_unknown(name.strip()[:MAX_NAME_LENGTH], secret, now)
        # The attempt is counted as a failure before the (slow, on purpose) check, in one write transaction, and
        # cleared if the secret is right: attempts made at the same time each count, so none escapes the lock-out.
        with self.store.transaction():
            fresh = self._row(row.name)
            assert fresh is not None
            until = fresh.locked_until
            locked = until is not None and now < until
            if until is not None and locked and until - now > lock_seconds(fresh.failures):
                # The clock was set back since the lock began: the lock runs its own length from now, not the
                # length of the step too.
                until = now + lock_seconds(fresh.failures)
                rows.set_failures(self.store.db, row.name, fresh.failures, until)
            failures = fresh.failures + 1
            wait = lock_seconds(failures)
            if not locked:
                rows.set_failures(self.store.db, row.name, failures, now + wait if wait else None)
        if locked:
            assert until is not None
            left = until - now
            _dummy_verify(secret)  # as long as any other answer takes
            self.store.audit("sign_in_refused", user=row.name, reason="locked out", wait_s=round(left))
            raise _locked_out(left)
        altered = self._why_untrusted(row)
        if altered:
            self.store.audit("sign_in_refused", user=row.name, reason="account altered outside this program",
                             why=altered)
            raise self._altered(row, altered)
        held = self.held_to_note()
        seen = None if held is None else held.get(row.name)
        try:
            # An older copy put back may hold a secret changed since (one that leaked): the one noted is checked.
            HASHER.verify(row.secret_hash if seen is None else seen.secret_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            self.store.audit("sign_in_failed", user=row.name, reason="wrong secret", failures=failures,
                             locked_s=wait)
            raise _not_recognised(wait) from None
        if held is not None and seen is None:
            self.store.audit("sign_in_refused", user=row.name, reason="account not seen before the restore")
            raise AuthError(NOT_SEEN_BEFORE_RESTORE.format(name=row.name, accept=integrity.ACCEPT_RESTORE))
        if row.disabled or (seen is not None and seen.disabled):
            self.store.audit("sign_in_refused", user=row.name, reason="account disabled",
                             **({} if row.disabled else {"disabled_before_restore": True}))
            raise AuthError(f"the account '{row.name}' is disabled" + ("" if row.disabled else (
                " (it was before the older copy of this database was put back; an admin accepts the restore "
                "and enables it)")))
        role = row.role if seen is None else stricter_role(row.role, seen.role)
        # Hashed before the transaction: argon2 is slow on purpose and the write lock is not held for it. Not while
        # the accounts are held to the note: the row's secret is then not the one checked.
        rehashed = HASHER.hash(secret) if held is None and HASHER.check_needs_rehash(row.secret_hash) else None
        with self.store.sealed_write("users", [row.name]):
            if rehashed is not None:
                rows.set_secret_hash(self.store.db, row.name, rehashed,
                                     _row_mac(self._keys, row.name, row.role, rehashed, int(row.disabled)))
            rows.set_failures(self.store.db, row.name, 0, None)
            self.store.audit("sign_in", user=row.name, role=role,
                             **({"role_in_restored_copy": row.role} if role != row.role else {}))
        return Principal(row.name, role)


_DUMMY_HASH: list[str] = []


def _not_recognised(wait: float) -> AuthError:
    """The answer to a wrong name or secret, with the lock-out it started."""
    if wait:
        return LockedOut(f"name or PIN/password not recognised; the account is locked for {wait:.0f} s", wait)
    return AuthError("name or PIN/password not recognised")


def _locked_out(left: float) -> LockedOut:
    return LockedOut(f"too many failed attempts: try again in {math.ceil(left)} s", left)


def _dummy_verify(secret: str) -> None:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(HASHER.hash("not-a-real-secret"))
    with contextlib.suppress(VerificationError, InvalidHashError):
        HASHER.verify(_DUMMY_HASH[0], secret)


def emergency_principal(name: str, reason: str) -> Principal:
    """Who signs in in an emergency without an account, once the name and reason are fit to be recorded
    (:class:`AuthError` saying what is missing); nothing is audited here (see :func:`break_glass`)."""
    # The name stands in the audit log, on the timeline and in every export, as an account's would.
    name = _staff_name(name, "clinician's name")
    reason = reason.strip()
    if not name or not reason:
        raise AuthError("an emergency sign-in needs the clinician's full name and the reason")
    if len(name) > MAX_NAME_LENGTH:
        raise AuthError(f"the clinician's name is at most {MAX_NAME_LENGTH} printable characters")
    return Principal(name, "nurse", KIND_BREAK_GLASS, reason)


def break_glass(store: Any, name: str, reason: str, *, session_id: str | None = None) -> Principal:
    """An emergency sign-in for a clinician without an account: always audited, flagged on the session."""
    principal = emergency_principal(name, reason)
    store.audit(KIND_BREAK_GLASS, user=principal.label, session_id=session_id, reason=principal.reason)
    return principal
