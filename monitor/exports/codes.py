"""Codes, units and reference ranges shared by the HL7 and FHIR exports and the live feed.

LOINC and IEEE 11073 MDC codes are those of CLINICAL.md ("Parameters"). Reference ranges are
the values that raise no alarm under the clinic's default limits (CLINICAL.md, "Default alarm
limits"), as whole numbers: a systolic of 165 alarms, so the normal systolic range ends at 164.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from monitor.readings import UNITS, Parameter

LOINC_SYSTEM: Final = "http://loinc.org"
MDC_SYSTEM: Final = "urn:iso:std:iso:11073:10101"
UCUM_SYSTEM: Final = "http://unitsofmeasure.org"
BP_PANEL: Final = ("85354-9", "Blood pressure panel with all children optional")
#: Second LOINC code a pulse-oximetry SpO2 carries (the vital-signs profile's code).
SPO2_ARTERIAL: Final = ("2708-6", "Oxygen saturation in Arterial blood")


@dataclass(frozen=True, slots=True)
class ParameterCode:
    """How a parameter is coded: LOINC code and name, MDC code and reference id."""

    loinc: str
    loinc_name: str
    mdc: str
    mdc_name: str


CODES: Final[dict[Parameter, ParameterCode]] = {
    Parameter.HR: ParameterCode("8867-4", "Heart rate", "147842", "MDC_ECG_HEART_RATE"),
    Parameter.PR: ParameterCode("8867-4", "Heart rate", "149530", "MDC_PULS_OXIM_PULS_RATE"),
    Parameter.SPO2: ParameterCode(
        "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "150456", "MDC_PULS_OXIM_SAT_O2"
    ),
    Parameter.NIBP_SYS: ParameterCode(
        "8480-6", "Systolic blood pressure", "150021", "MDC_PRESS_BLD_NONINV_SYS"
    ),
    Parameter.NIBP_DIA: ParameterCode(
        "8462-4", "Diastolic blood pressure", "150022", "MDC_PRESS_BLD_NONINV_DIA"
    ),
    Parameter.NIBP_MEAN: ParameterCode(
        "8478-0", "Mean blood pressure", "150023", "MDC_PRESS_BLD_NONINV_MEAN"
    ),
}


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


#: Derived from the default alarm limits: HR/PR alarm below 50 and above 120, SpO2 below 92,
#: systolic below 90 and from 165, diastolic from 100; the mean pressure has no limit.
DEFAULT_RANGES: Final[dict[Parameter, ReferenceRange]] = {
    Parameter.HR: ReferenceRange(50, 120),
    Parameter.PR: ReferenceRange(50, 120),
    Parameter.SPO2: ReferenceRange(92, 100),
    Parameter.NIBP_SYS: ReferenceRange(90, 164),
    Parameter.NIBP_DIA: ReferenceRange(None, 99),
    Parameter.NIBP_MEAN: ReferenceRange(None, None),
}


def unit(parameter: Parameter) -> str:
    """UCUM unit of a parameter."""
    return UNITS[parameter]
