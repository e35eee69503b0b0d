"""Driver settings given as ``--set key=value``: checked with messages that name the setting."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final


class SettingsError(ValueError):
    """A driver setting that cannot be used; the message names it."""


def check_known(settings: Mapping[str, str], known: Iterable[str], driver: str) -> None:
    """Refuse settings the driver does not have (a typo must not pass silently)."""
    known = sorted(known)
    unknown = sorted(set(settings) - set(known))
    if unknown and not known:
        raise SettingsError(f"{driver} has no settings (got {', '.join(unknown)})")
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)} for {driver}; known: {', '.join(known)}")


def seconds(settings: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """A duration in seconds within [low, high] (low excluded when it is 0), or the default when absent."""
    text = settings.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"setting {name}='{text}' is not a number of seconds") from None
    in_range = (value > 0 if low == 0 else low <= value) and value <= high
    if not in_range:
        raise SettingsError(f"setting {name}={text} must be between {low:g} and {high:g} seconds")
    return value


#: The words an on/off setting takes.
ON_WORDS: Final = ("on", "yes", "true", "1")
OFF_WORDS: Final = ("off", "no", "false", "0")


def switch(settings: Mapping[str, str], name: str, default: bool) -> bool:
    """An on/off setting (on, yes, true, 1 / off, no, false, 0), or the default when absent."""
    text = settings.get(name)
    if text is None:
        return default
    flag = text.strip().lower()
    if flag not in ON_WORDS + OFF_WORDS:
        raise SettingsError(f"setting {name}='{text}' must be on or off")
    return flag in ON_WORDS


def choice(settings: Mapping[str, str], name: str, choices: Iterable[str], default: str) -> str:
    """One of a few words (compared in lower case), or the default when absent."""
    allowed = tuple(choices)
    text = settings.get(name)
    if text is None:
        return default
    value = text.strip().lower()
    if value not in allowed:
        raise SettingsError(f"setting {name}='{text}' must be one of {', '.join(allowed)}")
    return value


def whole_number(settings: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number within [low, high], or the default when absent."""
    text = settings.get(name)
    if text is None:
        return default
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise SettingsError(f"setting {name}='{text}' must be a whole number {low}-{high}")
    return int(value)
