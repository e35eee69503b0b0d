"""Scores entered in error and their corrections.

A nurse who records the wrong value (MOAA/S 1 for 4) enters the right one as a correction of the last score
of that scale. Nothing is deleted: the wrong entry stays on the timeline, superseded. Its correction carries
``corrects_at`` (when the assessment was made: the wrong entry's time), ``corrected_value`` (what it said) and
a ``reason``. Everything derived from scores (the course, scores due, discharge, checks) reads
:func:`standing_scores`, where the assessment holds the corrected value at its own time; the timeline, the
chart and the exports show both entries, the wrong one marked by :func:`superseded`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Final

from monitor.session import EventKind, SessionEvent

#: What a correction adds to a score entry (dropped where the corrected assessment stands in for the wrong one,
#: so that reading the standing scores twice gives the same).
_CORRECTION_KEYS: Final = ("corrects_at", "corrected_value", "correction_reason")


class ScoreCorrectionError(ValueError):
    """A correction the timeline cannot take (no earlier score of the scale, no reason)."""


def scale_key(name: str) -> str:
    """A score scale's name as compared: ``"CADSS-6"``, ``"cadss 6"`` and ``"CADSS6"`` are one scale."""
    return name.replace("-", "").replace(" ", "").upper()


def is_correction(event: SessionEvent) -> bool:
    """Whether a score entry replaces an earlier one of its scale."""
    return event.kind is EventKind.SCORE and event.detail.get("corrects_at") is not None


def _assessment_time(event: SessionEvent) -> float:
    """When the assessment an entry records was made (a correction: the time of the entry it corrects)."""
    return float(event.detail.get("corrects_at", event.t))


def assessment_key(event: SessionEvent) -> tuple[str, float]:
    """The assessment a score entry records: its scale and when it was made (a correction: the same as the entry
    it corrects)."""
    return scale_key(str(event.detail.get("scale", ""))), _assessment_time(event)


def last_score(events: Iterable[SessionEvent], scale: str) -> SessionEvent | None:
    """The newest score entry of ``scale`` on the timeline (a correction counts), None when there is none."""
    key = scale_key(scale)
    found = None
    for e in events:
        if e.kind is EventKind.SCORE and scale_key(str(e.detail.get("scale", ""))) == key:
            found = e
    return found


def correction_detail(events: Iterable[SessionEvent], scale: str, reason: Any) -> dict[str, Any]:
    """What a correction of the last ``scale`` score adds to its own entry (ScoreCorrectionError when it cannot)."""
    why = str(reason or "").strip()
    if not why:
        raise ScoreCorrectionError(f"a correction of the last {scale} needs a reason")
    wrong = last_score(events, scale)
    if wrong is None:
        raise ScoreCorrectionError(f"no {scale} was entered in this session: there is none to correct")
    # A correction of a correction points at the first entry: one assessment, whatever the number of tries.
    return {"corrects_at": _assessment_time(wrong), "corrected_value": wrong.detail.get("value"),
            "correction_reason": why}


def superseded(events: Sequence[SessionEvent]) -> dict[int, SessionEvent]:
    """The score entries a later correction replaced: their index in ``events`` → the entry that replaced them."""
    standing: dict[tuple[str, float], int] = {}
    out: dict[int, SessionEvent] = {}
    for index, e in enumerate(events):
        if e.kind is not EventKind.SCORE:
            continue
        key = assessment_key(e)
        if is_correction(e) and key in standing:
            out[standing[key]] = e
        standing[key] = index
    return out


def standing_scores(events: Iterable[SessionEvent]) -> list[SessionEvent]:
    """The timeline as the figures read it: each corrected score replaced, at its own time, by the newest
    correction's value (and by whom); the corrections themselves are not counted again; other events unchanged."""
    listed = list(events)
    newest: dict[tuple[str, float], SessionEvent] = {}
    for e in listed:
        if e.kind is EventKind.SCORE:
            newest[assessment_key(e)] = e
    originals = {assessment_key(e) for e in listed if e.kind is EventKind.SCORE and not is_correction(e)}
    out: list[SessionEvent] = []
    for e in listed:
        if e.kind is not EventKind.SCORE:
            out.append(e)
            continue
        key = assessment_key(e)
        final = newest[key]
        if not is_correction(e):
            out.append(e if final is e else dataclasses.replace(final, t=e.t, phase=e.phase, detail={
                k: v for k, v in final.detail.items() if k not in _CORRECTION_KEYS}))
        elif key not in originals and final is e:
            out.append(e)  # a part of the timeline without the wrong entry: the correction still counts
    return out


def superseded_text(by: SessionEvent, when: str) -> str:
    """How a superseded entry is marked wherever it is shown: the right value, who corrected it, when (``when``:
    the correction's time as the place shows time) and why."""
    who = f" by {by.user}" if by.user else ""
    return (f"SUPERSEDED, entered in error: corrected to {by.detail.get('value')}{who} at {when}: "
            f"{by.detail.get('correction_reason', '')}")
