"""The pre-infusion checklist: what a clinic checks at the chair before a dose is given.

Fasting hours, escort and transport home, consent on file, current medications (with the
classes that matter for ketamine flagged), pregnancy where it applies, and weight. It is stored
as structured data on the session's timeline (a ``checklist`` event; the newest one counts) and
judged against the protocol's required items before the infusion may start. A nurse enters it
in a few keystrokes with :func:`parse_quick` (``f6 e t:partner c w82 m:lisinopril p:na``; the help and
the example give the protocol's own fasting minimum).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from monitor.session import EventKind, SessionEvent


class MedicationFlag(StrEnum):
    """Medication classes a ketamine or esketamine clinic must know about."""

    ANTIHYPERTENSIVE = "antihypertensive"
    BENZODIAZEPINE = "benzodiazepine"
    STIMULANT = "stimulant"
    MAOI = "maoi"
    SEDATIVE = "sedative"


#: Short codes for the quick entry (``m:diazepam=bz``).
FLAG_CODES: Final = {
    "ah": MedicationFlag.ANTIHYPERTENSIVE,
    "bz": MedicationFlag.BENZODIAZEPINE,
    "st": MedicationFlag.STIMULANT,
    "mao": MedicationFlag.MAOI,
    "sed": MedicationFlag.SEDATIVE,
}

#: Common drugs whose class is flagged without the nurse having to say it (generic names).
KNOWN_MEDICATIONS: Final[Mapping[str, MedicationFlag]] = {
    **dict.fromkeys(
        ("lisinopril", "enalapril", "ramipril", "losartan", "valsartan", "amlodipine", "nifedipine",
         "metoprolol", "atenolol", "propranolol", "bisoprolol", "carvedilol", "labetalol", "clonidine",
         "hydrochlorothiazide", "chlorthalidone", "furosemide", "hydralazine", "prazosin", "doxazosin"),
        MedicationFlag.ANTIHYPERTENSIVE,
    ),
    **dict.fromkeys(
        ("lorazepam", "diazepam", "alprazolam", "clonazepam", "temazepam", "midazolam", "oxazepam",
         "chlordiazepoxide"),
        MedicationFlag.BENZODIAZEPINE,
    ),
    **dict.fromkeys(
        ("methylphenidate", "amphetamine", "dextroamphetamine", "lisdexamfetamine", "modafinil",
         "armodafinil", "dexmethylphenidate"),
        MedicationFlag.STIMULANT,
    ),
    **dict.fromkeys(
        ("phenelzine", "tranylcypromine", "isocarboxazid", "selegiline", "rasagiline", "moclobemide"),
        MedicationFlag.MAOI,
    ),
    **dict.fromkeys(("zolpidem", "zopiclone", "eszopiclone", "zaleplon", "quetiapine", "gabapentin",
                     "pregabalin", "trazodone"), MedicationFlag.SEDATIVE),
}


class Pregnancy(StrEnum):
    """Pregnancy status where it applies."""

    NOT_APPLICABLE = "not_applicable"
    NEGATIVE = "negative"
    POSITIVE = "positive"


class ChecklistItem(StrEnum):
    """The items a protocol may require."""

    FASTING = "fasting"
    ESCORT = "escort"
    TRANSPORT = "transport"
    CONSENT = "consent"
    MEDICATIONS = "medications"
    PREGNANCY = "pregnancy"
    WEIGHT = "weight"


#: Weights outside this range are typing errors (grams, pounds with a slip), not patients at the chair.
WEIGHT_RANGE_KG: Final = (25.0, 300.0)
FASTING_RANGE_H: Final = (0.0, 72.0)


class ChecklistError(ValueError):
    """A checklist entry that cannot be understood, with what to type instead."""


@dataclass(frozen=True, slots=True)
class Medication:
    """One current medication with the classes that matter."""

    name: str
    flags: frozenset[MedicationFlag] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        """Plain values for storage."""
        return {"name": self.name, "flags": sorted(f.value for f in self.flags)}


def medication(name: str, flags: Iterable[MedicationFlag | str] = ()) -> Medication:
    """A medication, flagged from the known list when its class was not given."""
    clean = name.strip()
    if not clean:
        raise ChecklistError("a medication needs a name")
    given = frozenset(MedicationFlag(f) for f in flags)
    known = KNOWN_MEDICATIONS.get(clean.lower())
    return Medication(clean, given | ({known} if known is not None else frozenset()))


@dataclass(frozen=True, slots=True)
class PreInfusionChecklist:
    """The checks made before dosing; None means "not asked yet"."""

    fasting_hours: float | None = None
    escort_present: bool | None = None
    transport: str | None = None
    consent_on_file: bool | None = None
    #: None: not reviewed; an empty tuple: reviewed, takes nothing.
    medications: tuple[Medication, ...] | None = None
    pregnancy: Pregnancy | None = None
    weight_kg: float | None = None
    notes: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.weight_kg is not None:
            low, high = WEIGHT_RANGE_KG
            if not (math.isfinite(self.weight_kg) and low <= self.weight_kg <= high):
                raise ChecklistError(f"a weight of {self.weight_kg:g} kg is outside {low:g} to {high:g} kg")
        if self.fasting_hours is not None:
            low, high = FASTING_RANGE_H
            if not (math.isfinite(self.fasting_hours) and low <= self.fasting_hours <= high):
                raise ChecklistError(f"fasting of {self.fasting_hours:g} h is outside {low:g} to {high:g} h")

    def flagged(self) -> dict[MedicationFlag, list[str]]:
        """Medications by flagged class (only classes present)."""
        out: dict[MedicationFlag, list[str]] = {}
        for med in self.medications or ():
            for flag in sorted(med.flags):
                out.setdefault(flag, []).append(med.name)
        return out

    def answered(self, item: ChecklistItem) -> bool:
        """Whether an item has been asked and answered."""
        value = {
            ChecklistItem.FASTING: self.fasting_hours,
            ChecklistItem.ESCORT: self.escort_present,
            ChecklistItem.TRANSPORT: self.transport,
            ChecklistItem.CONSENT: self.consent_on_file,
            ChecklistItem.MEDICATIONS: self.medications,
            ChecklistItem.PREGNANCY: self.pregnancy,
            ChecklistItem.WEIGHT: self.weight_kg,
        }[item]
        return value is not None and value != ""

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the timeline and exports."""
        return {
            "fasting_hours": self.fasting_hours,
            "escort_present": self.escort_present,
            "transport": self.transport,
            "consent_on_file": self.consent_on_file,
            "medications": None if self.medications is None else [m.as_dict() for m in self.medications],
            "pregnancy": None if self.pregnancy is None else self.pregnancy.value,
            "weight_kg": self.weight_kg,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreInfusionChecklist:
        """Inverse of :meth:`as_dict` (unknown keys are ignored)."""
        meds_raw = data.get("medications")
        meds = (
            None
            if meds_raw is None
            else tuple(
                Medication(str(m["name"]), frozenset(MedicationFlag(f) for f in m.get("flags", ())))
                for m in meds_raw
            )
        )
        pregnancy = data.get("pregnancy")
        return cls(
            fasting_hours=_optional_float(data.get("fasting_hours")),
            escort_present=_optional_bool(data.get("escort_present")),
            transport=data.get("transport") or None,
            consent_on_file=_optional_bool(data.get("consent_on_file")),
            medications=meds,
            pregnancy=None if pregnancy is None else Pregnancy(pregnancy),
            weight_kg=_optional_float(data.get("weight_kg")),
            notes=str(data.get("notes") or ""),
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True, slots=True)
class ChecklistRules:
    """What a protocol asks of the checklist."""

    required: frozenset[ChecklistItem] = frozenset()
    fasting_min_hours: float | None = None


@dataclass(frozen=True, slots=True)
class ChecklistProblem:
    """One thing that stands in the way of the infusion start."""

    item: ChecklistItem
    text: str


def problems(checklist: PreInfusionChecklist | None, rules: ChecklistRules) -> list[ChecklistProblem]:
    """Required items that are missing or answered in a way that forbids dosing, in checklist order."""
    checklist = checklist or PreInfusionChecklist()
    out: list[ChecklistProblem] = []
    for item in ChecklistItem:
        if item not in rules.required:
            continue
        if not checklist.answered(item):
            out.append(ChecklistProblem(item, f"{item.value}: not recorded"))
            continue
        if item is ChecklistItem.FASTING and rules.fasting_min_hours is not None:
            assert checklist.fasting_hours is not None
            if checklist.fasting_hours < rules.fasting_min_hours:
                out.append(
                    ChecklistProblem(
                        item,
                        f"fasting: {checklist.fasting_hours:g} h, the protocol asks for "
                        f"{rules.fasting_min_hours:g} h",
                    )
                )
        elif item is ChecklistItem.ESCORT and checklist.escort_present is False:
            out.append(ChecklistProblem(item, "escort: no escort home"))
        elif item is ChecklistItem.CONSENT and checklist.consent_on_file is False:
            out.append(ChecklistProblem(item, "consent: not on file"))
        elif item is ChecklistItem.PREGNANCY and checklist.pregnancy is Pregnancy.POSITIVE:
            out.append(ChecklistProblem(item, "pregnancy: positive"))
    return out


def current_checklist(events: Iterable[SessionEvent]) -> PreInfusionChecklist | None:
    """The newest checklist recorded on a timeline (None when none was)."""
    found: PreInfusionChecklist | None = None
    for event in events:
        if event.kind is EventKind.CHECKLIST:
            found = PreInfusionChecklist.from_dict(event.detail)
    return found


# -- quick entry -----------------------------------------------------------------------------------

_YES = {"", "y", "yes", "+"}
_NO = {"n", "no", "-"}
_PREGNANCY = {
    "na": Pregnancy.NOT_APPLICABLE,
    "n/a": Pregnancy.NOT_APPLICABLE,
    "-": Pregnancy.NEGATIVE,
    "neg": Pregnancy.NEGATIVE,
    "negative": Pregnancy.NEGATIVE,
    "+": Pregnancy.POSITIVE,
    "pos": Pregnancy.POSITIVE,
    "positive": Pregnancy.POSITIVE,
}
_TOKEN = re.compile(r"^(?P<code>[a-z])(?P<sep>:?)(?P<value>.*)$", re.IGNORECASE)

#: The fasting hours the codes' examples show when a protocol sets no minimum.
FASTING_EXAMPLE_HOURS: Final = 6.0
_QUICK_HELP_AFTER_FASTING: Final = (
    "e / e- = escort yes / no; t:taxi = transport; c / c- = consent on file yes / no; "
    "w82.5 = weight kg; m:lisinopril,diazepam=bz / m- = medications / none "
    "(ah, bz, st, mao, sed flag a class); p:na / p- / p+ = pregnancy n/a / negative / positive"
)


def _fasting_hours(rules: ChecklistRules) -> str:
    """The fasting hours the examples show: the protocol's own minimum, since a nurse copies what she reads
    (``f6`` under a 2 h protocol read as if 6 h were asked for)."""
    hours = FASTING_EXAMPLE_HOURS if rules.fasting_min_hours is None else rules.fasting_min_hours
    return f"{hours:g}"


def quick_help(rules: ChecklistRules) -> str:
    """What each quick code means, the fasting code at the protocol's minimum (with that minimum said)."""
    hours = _fasting_hours(rules)
    least = "" if rules.fasting_min_hours is None else ", the protocol's minimum"
    return f"f{hours} = fasted {hours} h{least}; {_QUICK_HELP_AFTER_FASTING}"


def quick_example(rules: ChecklistRules) -> str:
    """A whole line a nurse could type, its fasting code at the protocol's minimum."""
    return f"e.g. f{_fasting_hours(rules)} e t:partner c w82 m:lisinopril p:na"


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ChecklistError(f"'{text}' is not a number for {what}") from None
    if not math.isfinite(value):
        raise ChecklistError(f"'{text}' is not a number for {what}")
    return value


def _yes_no(text: str, what: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _YES:
        return True
    if lowered in _NO:
        return False
    raise ChecklistError(f"'{text}' is not yes or no for {what} (use {what[0]} or {what[0]}-)")


def _medications(text: str) -> tuple[Medication, ...]:
    if text.strip() in ("-", "none", "0"):
        return ()
    out = []
    for part in text.split(","):
        name, _, codes = part.partition("=")
        flags = []
        for code in filter(None, (c.strip().lower() for c in codes.split("+"))):
            if code not in FLAG_CODES:
                raise ChecklistError(f"unknown medication class '{code}'; use {', '.join(FLAG_CODES)}")
            flags.append(FLAG_CODES[code])
        out.append(medication(name, flags))
    return tuple(out)


def parse_quick(
    text: str, base: PreInfusionChecklist | None = None, rules: ChecklistRules | None = None
) -> PreInfusionChecklist:
    """Read the quick entry (see :func:`quick_help`) on top of ``base``; later tokens win. ``rules``, the protocol's,
    set the fasting example a refusal repeats."""
    help_text = quick_help(rules or ChecklistRules())
    values: dict[str, Any] = (base or PreInfusionChecklist()).as_dict()
    values["medications"] = None if base is None or base.medications is None else list(values["medications"])
    if not text.strip():
        raise ChecklistError("nothing entered; " + help_text)
    for token in text.split():
        match = _TOKEN.match(token)
        if match is None:
            raise ChecklistError(f"'{token}' is not understood; " + help_text)
        code, value = match.group("code").lower(), match.group("value")
        if code == "f":
            values["fasting_hours"] = _number(value, "fasting hours")
        elif code == "e":
            values["escort_present"] = _yes_no(value, "escort")
        elif code == "t":
            if not value.strip():
                raise ChecklistError("say how the patient gets home, e.g. t:partner")
            values["transport"] = value.strip()
        elif code == "c":
            values["consent_on_file"] = _yes_no(value, "consent")
        elif code == "w":
            values["weight_kg"] = _number(value, "weight in kg")
        elif code == "m":
            values["medications"] = [m.as_dict() for m in _medications(value)]
        elif code == "p":
            answer = _PREGNANCY.get(value.strip().lower())
            if answer is None:
                raise ChecklistError(f"'{value}' is not a pregnancy answer; use p:na, p- or p+")
            values["pregnancy"] = answer.value
        else:
            raise ChecklistError(f"'{token}' is not understood; " + help_text)
    return PreInfusionChecklist.from_dict(values)
