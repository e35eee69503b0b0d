"""The alarm profile in force, for recording and for the reference ranges of exports."""

from __future__ import annotations

from monitor.alarms.profile import AlarmProfile, ProfileError, ProfileHolder, default_profile, resolve_profile
from monitor.app.errors import AppError
from monitor.config import ConfigError, UserConfig


def active_alarm_profile(path: str | None = None) -> tuple[AlarmProfile, str | None]:
    """The alarm profile in force: ``path`` (``--profile``), INFUSION_MONITOR_PROFILE, config ``profile``,
    else the built-in one.

    A profile that cannot be used does not stop monitoring: the built-in profile stays in force
    and the problem (file, line, field) comes back as the second value.
    """
    try:
        user = UserConfig.load()
    except ConfigError as exc:
        raise AppError(str(exc)) from None
    holder = ProfileHolder()
    try:
        found = resolve_profile(path, user.values)
        if found is None:
            return holder.profile, None
        holder.load(found)
    except ProfileError as exc:
        return holder.profile, str(exc)
    return holder.profile, None


def reference_profile(path: str | None, approvals: object | None) -> tuple[AlarmProfile, str | None]:
    """The profile whose limits become an export's reference ranges, and a warning when it was set aside.

    Reference ranges come only from approved content, like the alarms themselves: a clinic profile
    not approved in ``approvals`` (a local store; None when there is none to ask) gives way to the
    built-in profile. A profile that cannot be read is an error.
    """
    from monitor.approval import approval_of

    profile, problem = active_alarm_profile(path)
    if problem:
        raise AppError(f"alarm profile (for reference ranges): {problem}")
    built_in = default_profile()
    if profile.sha256 == built_in.sha256:
        return profile, None
    if approvals is not None and approval_of(approvals, profile.sha256) is not None:
        return profile, None
    return built_in, (f"{profile.source} is not an approved profile here; "
                      "reference ranges of the built-in profile are used")
