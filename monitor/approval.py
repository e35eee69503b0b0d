"""Alarm profiles approved, not just loaded.

A profile other than the built-in one is used only when an admin has approved that exact
content: its SHA-256, the name it is shown under, who approved it and when are stored in the
database under a keyed hash (key outside the database), so an approval cannot be written in by
hand, and every version of it (its revocation too) is sealed in the record's hash chain, so a
revocation undone by hand is refused as well. Otherwise the built-in profile runs and the reason
is raised as a technical alarm.

An older copy of the whole database put back brings its approvals with it, one revoked since among them, under a
correct chain. Until an admin accepts that restore, a profile is used only where both the copy and the approvals
noted beside the key file (:func:`monitor.store.witness.held_approvals`) say it is approved, as sign-in holds each
account to the stricter of the two (:mod:`monitor.accounts`).

The *clinical floors* below are the weakest the high-priority rules may be made; a profile
beyond them (a high-priority rule disabled, lowered in priority, or moved past its floor) can be
approved only when the admin says so explicitly, and a change made at the chair cannot go past
them at all. The README lists them.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, replace
from typing import Any, Final

from monitor import integrity
from monitor.alarms.model import Priority
from monitor.alarms.profile import AlarmProfile, RuleSpec
from monitor.integrity import ACCEPT_RESTORE
from monitor.keys import Keys
from monitor.session import Phase
from monitor.store import approvals as rows
from monitor.store import witness
from monitor.store.approvals import ApprovalRow
from monitor.store.witness import ApprovalSeen

BUILT_IN_NAME: Final = "built-in default"

#: Why an approval the older copy put back holds is not used: this computer saw it revoked since.
REVOKED_BEFORE_RESTORE: Final = (
    "the approval of '{name}' (sha256 {sha}) was revoked by {by} on {when}, before the older copy of this database "
    "that still holds it was put back: it is not used until an admin accepts the restore ('{accept}')"
)
#: Why an approval the older copy holds, but this computer's note never saw, is not used until the restore is
#: accepted.
NOT_SEEN_BEFORE_RESTORE: Final = (
    "the approval of '{name}' (sha256 {sha}) came with the older copy of this database that was put back, and this "
    "computer never saw it in the database before: it is used once an admin accepts the restore ('{accept}')"
)


@dataclass(frozen=True, slots=True)
class Floor:
    """The weakest allowed form of a high-priority rule: its limit may not pass ``limit``."""

    rule_id: str
    comparison_direction: int  # -1: the rule catches low values (the limit may not go lower), +1: high values
    limit: float

    def describe(self) -> str:
        """e.g. ``spo2_low_severe: high priority, enabled, limit not below 85``."""
        side = "below" if self.comparison_direction < 0 else "above"
        return f"{self.rule_id}: high priority, enabled, limit not {side} {self.limit:g}"


#: Clinical floors of the built-in high-priority rules (README, "Alarm profiles and approval").
FLOORS: Final[tuple[Floor, ...]] = (
    Floor("spo2_low_severe", -1, 85.0),
    Floor("hr_low", -1, 40.0),
    Floor("hr_high_severe", +1, 160.0),
    Floor("nibp_sys_low", -1, 80.0),
    Floor("nibp_sys_crisis", +1, 200.0),
    Floor("nibp_dia_crisis", +1, 130.0),
    Floor("rr_low", -1, 6.0),
    Floor("no_breath", -1, 1.0),
)


class ApprovalError(Exception):
    """An approval that cannot be given or trusted; the message says why."""


def rule_below_floor(rule: RuleSpec | None, floor: Floor) -> str | None:
    """Why ``rule`` (as in force in some phase) is weaker than its floor, or None."""
    if rule is None or not rule.enabled:
        return f"{floor.rule_id} is switched off"
    if rule.priority is not Priority.HIGH:
        return f"{floor.rule_id} is {rule.priority.value} priority, not high"
    if rule.relative or rule.direction != floor.comparison_direction:
        return f"{floor.rule_id} no longer watches the same side as its floor"
    if (rule.limit - floor.limit) * floor.comparison_direction > 0:
        return f"{floor.rule_id} limit {rule.limit:g} is past its floor {floor.limit:g}"
    return None


def _rule_in(profile: AlarmProfile, rule_id: str, phase: Phase) -> RuleSpec | None:
    for rule in profile.rules_for(phase):
        if rule.id == rule_id:
            return rule
    return None


def below_floors(profile: AlarmProfile) -> list[str]:
    """Every way ``profile`` weakens a high-priority rule beyond its clinical floor, per phase."""
    found: list[str] = []
    for floor in FLOORS:
        for phase in Phase:
            why = rule_below_floor(_rule_in(profile, floor.rule_id, phase), floor)
            if why:
                found.append(f"{why} (in the {phase.value} phase)")
    return found


def change_below_floor(rule: RuleSpec) -> str | None:
    """Why a change made at the chair would weaken ``rule`` beyond its floor, or None."""
    for floor in FLOORS:
        if floor.rule_id == rule.id:
            return rule_below_floor(rule, floor)
    return None


@dataclass(frozen=True, slots=True)
class Approval:
    """One approved profile content."""

    sha256: str
    name: str
    approved_by: str
    approved_at: float
    below_floors: bool

    def label(self) -> str:
        """The profile as the screen and exports name it: approved name and short hash."""
        return f"{self.name} (approved, sha256 {self.sha256[:12]})"


def _mac(keys: Keys, sha256: str, name: str, approved_by: str, approved_at: float, below: int) -> str:
    message = "\x1f".join(("approval", sha256, name, approved_by, repr(approved_at), str(below))).encode()
    return hmac.new(keys.integrity, message, hashlib.sha256).hexdigest()


def approve(store: Any, profile: AlarmProfile, text: str, name: str, *, by: Any,
            accept_below_floors: bool = False) -> Approval:
    """Record an admin's approval of exactly this profile content under ``name``."""
    if by is None or not by.may("approve_profile"):
        store.audit("approve_profile_refused", user=getattr(by, "name", None), sha256=profile.sha256)
        raise ApprovalError("only a signed-in admin can approve an alarm profile")
    if hashlib.sha256(text.encode()).hexdigest() != profile.sha256:
        raise ApprovalError("the profile text does not match the profile read")
    name = name.strip()
    if not name or len(name) > 60 or any(not ch.isprintable() for ch in name):
        raise ApprovalError("an approved profile needs a name of 1 to 60 printable characters")
    weaker = below_floors(profile)
    if weaker and not accept_below_floors:
        raise ApprovalError(
            "this profile weakens high-priority alarms beyond the clinical floors: " + "; ".join(weaker[:6])
            + ("; …" if len(weaker) > 6 else "")
            + " — approve it only with the explicit below-floors confirmation"
        )
    keys: Keys = store.keys
    at = time.time()
    with store.sealed_write("profile_approvals", [profile.sha256]):
        mac = _mac(keys, profile.sha256, name, by.name, at, int(bool(weaker)))
        rows.save(store.db, ApprovalRow(profile.sha256, name, by.name, at, bool(weaker), mac), text)
        store.audit("approve_profile", user=by.name, sha256=profile.sha256, name=name,
                    below_floors=weaker or None, source=profile.source)
    return Approval(profile.sha256, name, by.name, at, bool(weaker))


def revoke(store: Any, sha256: str, *, by: Any) -> None:
    """Withdraw an approval (admin only); sessions already recorded keep what they used."""
    if by is None or not by.may("approve_profile"):
        raise ApprovalError("only a signed-in admin can revoke an approval")
    sha256 = sha256.strip().lower()
    if len(sha256) < 6:
        raise ApprovalError("give the approval's hash, or at least its first 6 characters (`profiles list`)")
    with store.transaction():
        revoked = rows.matching_in_force(store.db, sha256)
        if not revoked:
            raise ApprovalError(f"no approved profile with hash {sha256}")
        with store.sealed_write("profile_approvals", revoked):
            rows.revoke(store.db, revoked, time.time(), by.name)
            store.audit("revoke_profile", user=by.name, sha256=sha256)


def held_to_note(store: Any) -> dict[str, ApprovalSeen] | None:
    """The profile approvals as this computer last vouched for them (by hash), while the database is an older copy
    of itself put back that nobody accepted yet and its approvals differ from them; None otherwise (also when the
    note beside the key file was written by a version that did not keep them)."""
    keys: Keys | None = getattr(store, "keys", None)
    path = getattr(store, "path", None)
    if keys is None or path is None:
        return None
    return witness.held_approvals(keys, path, store.db.conn)


def _held_back(held: dict[str, ApprovalSeen] | None, row: ApprovalRow) -> str | None:
    """Why the copy's approval ``row`` is not used while the approvals are ``held`` to the note (None: it is)."""
    seen = None if held is None else held.get(row.sha256)
    if held is None or (seen is not None and seen.approved):
        return None
    if seen is None:
        return NOT_SEEN_BEFORE_RESTORE.format(name=row.name, sha=row.sha256[:12], accept=ACCEPT_RESTORE)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(seen.at))
    return REVOKED_BEFORE_RESTORE.format(name=seen.name, sha=row.sha256[:12], by=seen.by, when=when,
                                         accept=ACCEPT_RESTORE)


def held_back_by_restore(store: Any, sha256: str) -> str | None:
    """Why the database's approval of this content is not used, when what holds it back is an older copy put back
    that nobody accepted yet; None otherwise (no approval in the database, or nothing holds it back)."""
    row = rows.in_force(store.db, sha256)
    return None if row is None else _held_back(held_to_note(store), row)


def approval_of(store: Any, sha256: str) -> Approval | None:
    """The valid approval of this content, or None (never approved, revoked, forged, or revoked before an older
    copy of the database was put back)."""
    keys: Keys | None = getattr(store, "keys", None)
    if keys is None:
        return None
    row = rows.in_force(store.db, sha256)
    if row is None or _held_back(held_to_note(store), row) is not None:
        return None
    return _trusted(store, keys, row)


def _trusted(store: Any, keys: Keys, row: ApprovalRow) -> Approval | None:
    """The approval a stored row says, if its keyed hash is right (a row written by hand is not) and it is the
    version this program last sealed (a revocation undone by hand is not)."""
    expected = _mac(keys, row.sha256, row.name, row.approved_by, row.approved_at, int(row.below_floors))
    if not hmac.compare_digest(expected, row.mac):
        return None
    if integrity.why_untrusted(store.db.conn, keys, "profile_approvals", row.sha256) is not None:
        return None
    return Approval(row.sha256, row.name, row.approved_by, row.approved_at, row.below_floors)


def approvals(store: Any) -> list[Approval]:
    """Every approval in force (valid keyed hash, not revoked, here or before an older copy was put back)."""
    keys: Keys | None = getattr(store, "keys", None)
    if keys is None:
        return []
    held = held_to_note(store)
    return [found for row in rows.all_in_force(store.db)
            if _held_back(held, row) is None and (found := _trusted(store, keys, row)) is not None]


@dataclass(frozen=True, slots=True)
class ProfileDecision:
    """Which profile runs, under which name, and why (``problem``) when the one asked for does not."""

    profile: AlarmProfile
    label: str
    approval: Approval | None
    problem: str | None


def built_in_label(profile: AlarmProfile) -> str:
    """How the built-in profile is named on screen and in exports."""
    return f"{BUILT_IN_NAME} (sha256 {profile.sha256[:12]})"


def decide(store: Any, requested: AlarmProfile | None, built_in: AlarmProfile, *, user: Any) -> ProfileDecision:
    """The profile to run: ``requested`` only when approved and asked for by a signed-in account."""
    if requested is None or requested.sha256 == built_in.sha256:
        return ProfileDecision(built_in, built_in_label(built_in), None, None)
    found = approval_of(store, requested.sha256)
    if found is None:
        problem = held_back_by_restore(store, requested.sha256) or (
            f"{requested.source} (sha256 {requested.sha256[:12]}) is not approved by an admin "
            "(`infusion-monitor profiles approve`)")
        return ProfileDecision(built_in, built_in_label(built_in), None, problem)
    if user is None or not getattr(user, "authenticated", False):
        problem = (f"approved profile '{found.name}' needs a signed-in account to be used "
                   "(--user NAME); nobody signed in")
        return ProfileDecision(built_in, built_in_label(built_in), None, problem)
    return ProfileDecision(replace(requested, name=found.name), found.label(), found, None)


class FloorError(ValueError):
    """A change at the chair that would weaken a high-priority alarm beyond its clinical floor."""


class CommandGuard:
    """What the recorder checks before an alarm command runs: approval and clinical floors.

    The engine still checks the role (admin); this adds what a role alone does not allow: a
    profile is loaded only if its exact content is approved, and no change at the chair takes a
    high-priority rule past its floor (that needs an approved profile).
    """

    def __init__(self, store: Any, engine: Any) -> None:
        self.store = store
        self.engine = engine

    def __call__(self, command: Any, alarms: Any) -> Any:
        """The command to run (possibly with the approval attached); raises to refuse it."""
        from monitor.alarms.profile import ProfileError, load_profile

        engine = alarms if alarms is not None else self.engine
        if command.name == "set_limit" and engine is not None:
            args = command.args
            phase = Phase(args["phase"]) if args.get("phase") else None
            try:
                current = engine.profile.rule(str(args.get("rule")), phase)
            except KeyError:
                return command  # the engine names the unknown rule
            changed = replace(
                current,
                limit=current.limit if args.get("limit") is None else float(args["limit"]),
                priority=current.priority if args.get("priority") is None else Priority.parse(args["priority"]),
                enabled=current.enabled if args.get("enabled") is None else bool(args["enabled"]),
            )
            why = change_below_floor(changed)
            if why:
                raise FloorError(f"{why}: beyond the clinical floor, only an approved profile can do that")
        if command.name == "load_profile":
            path = str(command.args.get("path", ""))
            try:
                profile = load_profile(path)
            except ProfileError as exc:
                raise FloorError(str(exc)) from None
            found = approval_of(self.store, profile.sha256)
            if found is None:
                raise FloorError(held_back_by_restore(self.store, profile.sha256)
                                 or f"{path} (sha256 {profile.sha256[:12]}) is not an approved profile")
            args = {**command.args, "expected_sha256": profile.sha256, "approved_name": found.name}
            return replace(command, args=args)
        return command
