"""Moments as the clinic's clock showed them: local time, with the zone named where the clock showed that time twice.

On the night the clocks go back, 01:30 comes twice (01:30 EDT, then 01:30 EST an hour later): a time printed
without its zone there names two moments, and an alarm that lasted 65 seconds read "01:59:40 | 01:00:45", ending
before it began. Every screen and line that prints a moment of a session as a time of day goes through here.
"""

from __future__ import annotations

from datetime import datetime


def clock_text(t: float, form: str = "%H:%M:%S", *, zone: bool = False) -> str:
    """``t`` as the local clock showed it (``form``: a ``strftime`` form), followed by the zone's name in an hour
    the clock showed twice (``zone``: always, as a refusal that names a span does)."""
    moment = datetime.fromtimestamp(t).astimezone()
    text = moment.strftime(form)
    return f"{text} {moment.strftime('%Z')}" if zone or repeated_hour(t) else text


def repeated_hour(t: float) -> bool:
    """Whether the local clock showed the time of ``t`` twice (the hour a daylight-saving change repeats)."""
    wall = datetime.fromtimestamp(t)
    return wall.replace(fold=0).astimezone().utcoffset() != wall.replace(fold=1).astimezone().utcoffset()
