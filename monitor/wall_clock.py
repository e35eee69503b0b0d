"""Moments as the clinic's clock showed them: local time, with the zone named wherever the time alone could mislead.

On the night the clocks go back, 01:30 comes twice (01:30 EDT, then 01:30 EST an hour later): a time printed
without its zone there names two moments, and an alarm that lasted 65 seconds read "01:59:40 | 01:00:45", ending
before it began. On the night they go forward, 02:00 CET is followed by 03:00 CEST: an alarm of 63 seconds read
"01:59:30 | 03:00:33", an hour longer than it lasted. So a time names its zone in the hour the clock showed twice
and for :data:`NAMED_AFTER_CHANGE` after the clock changed its UTC offset. Every screen and line that prints a
moment of a session as a time of day goes through here, and so does a time typed in local time (:func:`moments_shown`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

#: How long after a change of the UTC offset a time names its zone: two times read together (an alarm's start and
#: end, the entries of a session's timeline, an infusion and the discharge after it) are read right whenever they
#: lie less than this apart, which covers an alarm and a session's infusion and recovery.
NAMED_AFTER_CHANGE: Final = timedelta(hours=3)


def clock_text(t: float, form: str = "%H:%M:%S", *, zone: bool = False, since: float | None = None) -> str:
    """``t`` as the local clock showed it (``form``: a ``strftime`` form), followed by the zone's name where the time
    alone could mislead (:func:`zone_needed`); ``zone``: always, as a refusal that names a span does; ``since``: also
    whenever the offset differs from the one at ``since`` (a report whose header states the offset at its start)."""
    moment = datetime.fromtimestamp(t).astimezone()
    text = moment.strftime(form)
    named = zone or zone_needed(t) or (since is not None and _offset(since) != moment.utcoffset())
    return f"{text} {zone_name(moment)}" if named else text


def zone_needed(t: float) -> bool:
    """Whether the time of day of ``t`` alone could be read as another moment, or make a span read an hour longer or
    shorter: in an hour the clock showed twice, and for :data:`NAMED_AFTER_CHANGE` after the UTC offset changed."""
    return repeated_hour(t) or _offset(t) != _offset(t - NAMED_AFTER_CHANGE.total_seconds())


def repeated_hour(t: float) -> bool:
    """Whether the local clock showed the time of ``t`` twice (the hour a daylight-saving change repeats)."""
    wall = datetime.fromtimestamp(t)
    return wall.replace(fold=0).astimezone().utcoffset() != wall.replace(fold=1).astimezone().utcoffset()


def zone_name(moment: datetime) -> str:
    """The name of an aware local ``moment``'s zone ("CEST"), or its offset ("UTC+0200") where the zone has none."""
    return moment.strftime("%Z") or moment.strftime("UTC%z")


def moments_shown(wall: datetime) -> list[float]:
    """The moments at which the local clock read ``wall`` (naive, local), oldest first: one, two in the hour the
    clocks go back, none for a time they skipped when they went forward."""
    found = set()
    for fold in (0, 1):
        t = wall.replace(fold=fold).timestamp()
        # A skipped time maps to another clock reading: not a moment the clock showed.
        if datetime.fromtimestamp(t) == wall:  # naive times compare without their fold
            found.add(t)
    return sorted(found)


def _offset(t: float) -> timedelta | None:
    return datetime.fromtimestamp(t).astimezone().utcoffset()
