"""How the program names things on screen, in alarm texts and in reports: the one home of those words.

- Vital signs: one entry per parameter carries every name it goes by. Keyed by the parameter's value
  (``Parameter`` members are strings, so ``LABELS[Parameter.SPO2]`` works) and by the alarm rules' ``heart_rate``
  (HR or PR, whichever the device gives). A blood pressure reads through :func:`pressure_text`.
- Timeline entries: every :class:`~monitor.session.EventKind` has its label in :data:`EVENT_LABELS`, and what an
  entry holds reads as words through :func:`plain_detail` (the review window and the PDF both read them here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from monitor.session import EventKind, Phase, phase_step_text


@dataclass(frozen=True, slots=True)
class ParameterLabel:
    """The names of one parameter, from the tightest place to the roomiest, and its unit."""

    short: str  # the live tiles, chart legends and limit marks ("SBP")
    name: str  # alarm texts, reports and exports ("NIBP sys")
    long: str  # tables with room to spell it out ("NIBP systolic")
    unit: str  # as people write it (the stored units are UCUM, e.g. ``mm[Hg]``)


#: Every parameter's names.
PARAMETER_LABELS: Final[dict[str, ParameterLabel]] = {
    "hr": ParameterLabel("HR", "HR", "HR", "/min"),
    "pr": ParameterLabel("PR", "PR", "PR", "/min"),
    "heart_rate": ParameterLabel("HR", "HR", "HR", "/min"),
    "spo2": ParameterLabel("SpO2", "SpO2", "SpO2", "%"),
    "nibp_sys": ParameterLabel("SBP", "NIBP sys", "NIBP systolic", "mmHg"),
    "nibp_dia": ParameterLabel("DBP", "NIBP dia", "NIBP diastolic", "mmHg"),
    "nibp_mean": ParameterLabel("MAP", "NIBP mean", "NIBP mean", "mmHg"),
    "rr": ParameterLabel("RR", "RR", "RR", "/min"),
    "etco2": ParameterLabel("EtCO2", "EtCO2", "EtCO2", "mmHg"),
}
#: The name of the cuff's values together (sys/dia and mean), as its tile and trend are titled.
NIBP_LABEL: Final = "NIBP"
#: The name of each parameter in alarm texts and reports.
LABELS: Final[dict[str, str]] = {key: label.name for key, label in PARAMETER_LABELS.items()}
#: Its unit as people write it.
UNIT_TEXT: Final[dict[str, str]] = {key: label.unit for key, label in PARAMETER_LABELS.items()}


def whole_mmhg(value: float) -> int:
    """A pressure in whole mmHg, as a cuff shows it (a half to the even neighbour: 122.5 reads 122, 89.5 reads 90)."""
    # round(), as every table that prints a pressure with "{:.0f}" (statistics, course, station) rounds it: the same
    # baseline never reads 122 in one place and 123 in another.
    return round(value)


def pressure_text(sys: float, dia: float, mean: float | None = None) -> str:
    """``123/73 (90)``: a blood pressure as every screen and report writes it, in whole mmHg.

    A baseline is the median of its cuffs and may hold a half in storage; it is never shown so.
    """
    text = f"{whole_mmhg(sys)}/{whole_mmhg(dia)}"
    return text if mean is None else f"{text} ({whole_mmhg(mean)})"


#: The label of every kind of timeline entry, as the review's events table, the PDF's timeline and notes and the
#: chart's markers show it. A phase step is named after the phase as the session's protocol calls it
#: (:func:`event_label`); the words here are for a protocol that names its phases no other way.
EVENT_LABELS: Final[Mapping[EventKind, str]] = {
    EventKind.SESSION_STARTED: "Session started",
    EventKind.SESSION_RESUMED: "Recording resumed",
    EventKind.SESSION_CLOSED: "Session closed",
    EventKind.CLOSED_AFTER_CRASH: "Recording stopped unexpectedly; closed afterwards",
    EventKind.BASELINE_STARTED: "Baseline started",
    EventKind.BASELINE_TAKEN: "Baseline taken",
    EventKind.INFUSION_STARTED: "Infusion started",
    EventKind.INFUSION_PAUSED: "Infusion paused",
    EventKind.INFUSION_RESUMED: "Infusion resumed",
    EventKind.INFUSION_STOPPED: "Infusion stopped",
    EventKind.RECOVERY_STARTED: "Recovery started",
    EventKind.SESSION_COMPLETED: "Session completed",
    EventKind.DISCHARGE_SCORED: "Discharge scored",
    EventKind.NIBP_REQUESTED: "NIBP cuff started",
    EventKind.NOTE: "Note",
    EventKind.QUICK_EVENT: "Event",
    EventKind.SCORE: "Score",
    EventKind.ADDENDUM: "Addendum",
    EventKind.SIGNED_OFF: "Signed off",
    EventKind.LINK_LOST: "Device link lost",
    EventKind.LINK_RESTORED: "Device link back",
    EventKind.TECHNICAL: "Technical",
    EventKind.DEVICE_CHANGED: "Device changed",
    EventKind.PATIENT_IDENTIFIED: "Patient identified",
    EventKind.SETTINGS_CHANGED: "Settings changed",
    EventKind.CLOCK_CHANGED: "Computer clock changed",
    EventKind.DEVICE_CLOCK_OFFSET: "Device clock differs",
    EventKind.READINGS_BEFORE_START: "Readings from before the start",
    EventKind.CHECKLIST: "Checklist",
    EventKind.DOSE_PLANNED: "Dose planned",
    EventKind.RATE_CHANGED: "Rate changed",
    EventKind.INTERVENTION: "Intervention",
    EventKind.OUTCOME_SCORE: "Questionnaire",
    EventKind.REMS_FORM: "REMS form",
}


def event_label(kind: EventKind, phase_words: Mapping[Phase, str] | None = None) -> str:
    """A timeline entry's label; a phase step's after the phase as ``phase_words`` (the protocol) call it."""
    step = phase_step_text(kind, phase_words)
    return step[:1].upper() + step[1:] if step is not None else EVENT_LABELS[kind]


#: Detail keys the program keeps for itself, not for a reader: how to open the device again on a resume, and
#: the patient's random key (the header names the patient).
_UNSHOWN_KEYS: Final = frozenset({"device_spec", "patient_key"})
#: Keys that hold a moment: the row has its own time.
_TIME_KEY: Final = re.compile(r"^(t|at|.*_at)$")
#: A code as the program stores it (``nausea_vomiting``): lower-case words joined by underscores.
_CODE: Final = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)+$")
#: Codes whose words are not the code's parts with spaces.
_CODE_WORDS: Final[Mapping[str, str]] = {"nausea_vomiting": "nausea/vomiting"}


def code_words(code: str) -> str:
    """A stored code in words (``nausea_vomiting`` reads ``nausea/vomiting``); other text as it is."""
    if code in _CODE_WORDS:
        return _CODE_WORDS[code]
    return code.replace("_", " ") if _CODE.match(code) else code


def yes_no(value: object) -> str:
    """``yes`` or ``no``, where a stored flag would print as True or False."""
    return "yes" if value else "no"


def plain_value(value: Any) -> str:
    """One value of an entry's detail in words: yes/no, a number as written, a list or a table spelled out."""
    if isinstance(value, bool):
        return yes_no(value)
    if value is None or (isinstance(value, str | Mapping | list | tuple) and not value):
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{code_words(str(k))} {plain_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain_value(v) for v in value)
    return code_words(str(value))


def plain_detail(detail: Mapping[str, Any]) -> str:
    """What a timeline entry holds, as ``key: value`` words (``escort: yes; transport: partner``).

    Empty values and the program's own keys are left out; nothing prints as Python would write it.
    """
    shown = [(k, v) for k, v in detail.items()
             if k not in _UNSHOWN_KEYS and not _TIME_KEY.match(k) and v not in (None, "", {}, [], ())]
    return "; ".join(f"{code_words(k)}: {plain_value(v)}" for k, v in shown)
