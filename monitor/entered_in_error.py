"""Entries entered in error and their corrections: scores, interventions, notes, quick events and infusion rates.

A nurse who records the wrong thing (MOAA/S 1 for 4, midazolam 20 mg for 2 mg, oxygen for the patient in the next
chair, 45 mg/h for 54) corrects the last entry of its kind (a score: of its scale) with a new entry of the same
kind. Nothing is deleted: the wrong entry stays on the timeline, superseded. Its correction carries ``corrects_at``
(when the wrong entry was made: the assessment, the drug given or the rate set happened then), ``corrected_value``
(what it said) and a ``correction_reason``; a correction that puts nothing in its place (nothing was given, the
note belonged to another patient) also carries ``withdrawn``. Everything derived from these entries (the course,
scores due, discharge, checks, the interventions given, the oxygen the discharge form ticks, the delivered dose)
reads :func:`standing_entries`, where the corrected entry holds the correction's content at its own time (a rate:
the right rate runs from the moment the wrong one was entered) and a withdrawn one is gone; the timeline, the chart
and the exports show every entry, the wrong one marked by :func:`superseded`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from monitor.session import EventKind, SessionEvent

#: The entries a nurse can correct this way.
CORRECTABLE: Final = frozenset({EventKind.SCORE, EventKind.INTERVENTION, EventKind.NOTE, EventKind.QUICK_EVENT,
                                EventKind.RATE_CHANGED})
#: What a correction adds to an entry (dropped where the corrected entry stands in for the wrong one, so that
#: reading the standing entries twice gives the same). A rate's correction also keeps the wrong rate as a number.
_CORRECTION_KEYS: Final = ("corrects_at", "corrected_value", "correction_reason", "withdrawn",
                           "corrected_rate_mg_per_h")
#: How each kind is named where a correction puts none in its place ("no intervention").
NOUNS: Final = {EventKind.SCORE: "score", EventKind.INTERVENTION: "intervention", EventKind.NOTE: "note",
                EventKind.QUICK_EVENT: "event", EventKind.RATE_CHANGED: "rate"}
#: Said in place of the reason where a correction was stored without one (rates, before they needed one).
NO_REASON: Final = "no reason recorded"


class CorrectionError(ValueError):
    """A correction the timeline cannot take (nothing earlier of its kind, no reason)."""


def scale_key(name: str) -> str:
    """A score scale's name as compared: ``"CADSS-6"``, ``"cadss 6"`` and ``"CADSS6"`` are one scale."""
    return name.replace("-", "").replace(" ", "").upper()


def is_correction(event: SessionEvent) -> bool:
    """Whether an entry replaces an earlier one of its kind (a score: of its scale)."""
    return event.kind in CORRECTABLE and event.detail.get("corrects_at") is not None


def is_withdrawn(detail: Mapping[str, Any]) -> bool:
    """Whether a correction puts nothing in the wrong entry's place."""
    return detail.get("withdrawn") is True


def _assessment_time(event: SessionEvent) -> float:
    """When the thing an entry records happened (a correction: the time of the entry it corrects)."""
    return float(event.detail.get("corrects_at", event.t))


def _scale_of(event: SessionEvent) -> str:
    """A score's scale as compared; empty for entries that have none."""
    return scale_key(str(event.detail.get("scale", ""))) if event.kind is EventKind.SCORE else ""


def assessment_key(event: SessionEvent) -> tuple[str, str, float]:
    """What an entry records: its kind, its scale (scores) and when it happened (a correction: the same as the
    entry it corrects)."""
    return event.kind.value, _scale_of(event), _assessment_time(event)


def last_entry(events: Iterable[SessionEvent], kinds: Iterable[EventKind], scale: str = "") -> SessionEvent | None:
    """The newest entry of ``kinds`` on the timeline (a score: of ``scale``; a correction counts), None when there
    is none."""
    wanted = frozenset(kinds)
    key = scale_key(scale)
    found = None
    for e in events:
        if e.kind in wanted and _scale_of(e) == key:
            found = e
    return found


def last_score(events: Iterable[SessionEvent], scale: str) -> SessionEvent | None:
    """The newest score entry of ``scale`` on the timeline (a correction counts), None when there is none."""
    return last_entry(events, (EventKind.SCORE,), scale)


def shown_value(event: SessionEvent) -> Any:
    """What an entry says, as a correction quotes it: a score's value, a rate in mg/h, the text of the others
    (``no note`` for a withdrawal)."""
    detail = event.detail
    if is_withdrawn(detail):
        return f"no {NOUNS.get(event.kind, 'entry')}"
    if event.kind is EventKind.SCORE:
        return detail.get("value")
    if event.kind is EventKind.RATE_CHANGED:
        return rate_words(detail.get("rate_mg_per_h"))
    return detail.get("text") or detail.get("type") or event.kind.value.replace("_", " ")


def correction_detail(events: Iterable[SessionEvent], kind: EventKind, reason: Any, scale: str = "",
                      withdrawn: bool = False) -> dict[str, Any]:
    """What a correction of the last entry of ``kind`` (a score: of ``scale``) adds to its own entry
    (CorrectionError when it cannot); ``withdrawn``: nothing stands in for the wrong entry."""
    what = scale if kind is EventKind.SCORE else NOUNS.get(kind, kind.value)
    why = str(reason or "").strip()
    if not why:
        raise CorrectionError(f"a correction of the last {what} needs a reason")
    wrong = last_entry(events, (kind,), scale)
    if wrong is None:
        raise CorrectionError(f"no {what} was entered in this session: there is none to correct")
    # A correction of a correction points at the first entry: one assessment, whatever the number of tries.
    out = {"corrects_at": _assessment_time(wrong), "corrected_value": shown_value(wrong), "correction_reason": why}
    if kind is EventKind.RATE_CHANGED:
        out["corrected_rate_mg_per_h"] = float(wrong.detail["rate_mg_per_h"])  # the figure, beside its words
    if withdrawn:
        out["withdrawn"] = True
    return out


def rate_words(rate: Any) -> str:
    """An infusion rate as every entry quotes it: ``54 mg/h``."""
    return f"{float(rate or 0):g} mg/h"


def correction_reason(detail: Mapping[str, Any]) -> str:
    """Why a correction was made, as shown (a rate corrected before corrections needed a reason: said so)."""
    return str(detail.get("correction_reason") or "").strip() or NO_REASON


def corrected_value(detail: Mapping[str, Any]) -> Any:
    """What the wrong entry said, as its correction quotes it (a rate corrected before ``corrected_value`` was
    kept: its rate in mg/h)."""
    if detail.get("corrected_value") is None and detail.get("corrected_rate_mg_per_h") is not None:
        return rate_words(detail["corrected_rate_mg_per_h"])
    return detail.get("corrected_value")


def superseded(events: Sequence[SessionEvent]) -> dict[int, SessionEvent]:
    """The entries a later correction replaced: their index in ``events`` → the entry that replaced them."""
    standing: dict[tuple[str, str, float], int] = {}
    out: dict[int, SessionEvent] = {}
    for index, e in enumerate(events):
        if e.kind not in CORRECTABLE:
            continue
        key = assessment_key(e)
        if is_correction(e) and key in standing:
            out[standing[key]] = e
        standing[key] = index
    return out


def standing_entries(events: Iterable[SessionEvent]) -> list[SessionEvent]:
    """The timeline as the figures read it: each corrected entry replaced, at its own time, by the newest
    correction's content (and by whom), or left out where that correction withdrew it; the corrections themselves
    are not counted again; other events unchanged."""
    listed = list(events)
    newest: dict[tuple[str, str, float], SessionEvent] = {}
    for e in listed:
        if e.kind in CORRECTABLE:
            newest[assessment_key(e)] = e
    originals = {assessment_key(e) for e in listed if e.kind in CORRECTABLE and not is_correction(e)}
    out: list[SessionEvent] = []
    for e in listed:
        if e.kind not in CORRECTABLE:
            out.append(e)
            continue
        key = assessment_key(e)
        final = newest[key]
        if is_withdrawn(final.detail):
            continue
        if not is_correction(e):
            out.append(e if final is e else dataclasses.replace(final, t=e.t, phase=e.phase, detail={
                k: v for k, v in final.detail.items() if k not in _CORRECTION_KEYS}))
        elif key not in originals and final is e:
            out.append(e)  # a part of the timeline without the wrong entry: the correction still counts
    return out


def superseded_text(by: SessionEvent, when: str) -> str:
    """How a superseded entry is marked wherever it is shown: what stands instead (or that it was withdrawn), who
    corrected it, when (``when``: the correction's time as the place shows time) and why."""
    who = f" by {by.user}" if by.user else ""
    done = "withdrawn" if is_withdrawn(by.detail) else f"corrected to {shown_value(by)}"
    return f"SUPERSEDED, entered in error: {done}{who} at {when}: {correction_reason(by.detail)}"


def correction_words(detail: Mapping[str, Any]) -> str:
    """What a correction's own line adds: ``, correcting X entered in error: reason`` (empty for other entries)."""
    if detail.get("corrects_at") is None:
        return ""
    return f", correcting {corrected_value(detail)} entered in error: {correction_reason(detail)}"
