"""Reference ranges shared by the HL7 and FHIR exports and the live feed (codes: :mod:`drivers.core.codes`).

Reference ranges are the values that raise no alarm under the clinic's alarm profile (its absolute limits; limits
relative to the baseline have no fixed range), as whole numbers: with "systolic 165 or more"
alarming, the normal systolic range ends at 164.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers.core.codes import CODES
from drivers.core.readings import UNITS, Parameter
from monitor.alarms.profile import AlarmProfile, default_profile

#: The namespace of the MRN in exports (FHIR Identifier.system, HL7 PID-3.4) unless the
#: ``patient_id_system`` setting names the clinic's own (its EHR's MRN system URI or urn:oid:).
PATIENT_ID_SYSTEM_DEFAULT: Final = "urn:infusion-monitor:mrn"


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    """Values that raise no alarm, inclusive bounds (None: no limit on that side)."""

    low: float | None
    high: float | None

    def flag(self, value: float) -> str:
        """HL7 abnormal flag: H above the range, L below it, N inside; empty without a range."""
        if self.low is None and self.high is None:
            return ""
        if self.high is not None and value > self.high:
            return "H"
        if self.low is not None and value < self.low:
            return "L"
        return "N"

    def hl7_text(self) -> str:
        """OBX-7 form: ``low-high``, ``>low`` or ``<high`` (one-sided ranges are exclusive there)."""
        if self.low is not None and self.high is not None:
            return f"{self.low:g}-{self.high:g}"
        if self.high is not None:
            return f"<{self.high + 1:g}"
        if self.low is not None:
            return f">{self.low - 1:g}"
        return ""


#: Physical ceilings that close a range the alarm limits leave open (SpO2 cannot exceed 100 %).
_CEILINGS: Final = {Parameter.SPO2: 100.0}


def ranges_from_profile(profile: AlarmProfile) -> dict[Parameter, ReferenceRange]:
    """Reference ranges from a profile's enabled absolute limits (the innermost limit on each side)."""
    lows: dict[Parameter, list[float]] = {}
    highs: dict[Parameter, list[float]] = {}
    for rule in profile.rules:
        if not rule.enabled or rule.relative:
            continue
        for name in rule.parameters:
            parameters = [Parameter.HR, Parameter.PR] if name == "heart_rate" else [Parameter(name)]
            for parameter in parameters:
                if rule.comparison == "below":
                    lows.setdefault(parameter, []).append(rule.limit)
                elif rule.comparison == "at_or_below":
                    lows.setdefault(parameter, []).append(rule.limit + 1)
                elif rule.comparison == "above":
                    highs.setdefault(parameter, []).append(rule.limit)
                elif rule.comparison == "at_or_above":
                    highs.setdefault(parameter, []).append(rule.limit - 1)
    out = {}
    for parameter in CODES:
        low = max(lows[parameter]) if parameter in lows else None
        high = min(highs[parameter]) if parameter in highs else _CEILINGS.get(parameter)
        if low is None and high == _CEILINGS.get(parameter):
            high = None
        out[parameter] = ReferenceRange(low, high)
    return out


#: Ranges under the alarm profile shipped with the app (CLINICAL.md defaults): HR/PR 50-120,
#: SpO2 92-100, systolic 90-164, diastolic below 100, mean pressure without a range.
DEFAULT_RANGES: Final[dict[Parameter, ReferenceRange]] = ranges_from_profile(default_profile())


def unit(parameter: Parameter) -> str:
    """UCUM unit of a parameter."""
    return UNITS[parameter]
