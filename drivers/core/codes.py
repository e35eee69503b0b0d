"""The code table: how each parameter and unit is named in LOINC, IEEE 11073 MDC and UCUM.

One table for everything that codes a value: the HL7 listener recognises these identifiers in
OBX-3, the emulated HL7 sender writes them, the HL7 and FHIR exports and the clinic feed code
their observations with them. LOINC and MDC codes are those of CLINICAL.md ("Parameters").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers.core.readings import Parameter

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

    def mdc_identifier(self) -> str:
        """HL7 CWE with the MDC code: ``147842^MDC_ECG_HEART_RATE^MDC``."""
        return f"{self.mdc}^{self.mdc_name}^MDC"

    def loinc_identifier(self) -> str:
        """HL7 CWE with the LOINC code and the MDC code as the alternate identifier."""
        return f"{self.loinc}^{self.loinc_name}^LN^{self.mdc_identifier()}"


CODES: Final[dict[Parameter, ParameterCode]] = {
    Parameter.HR: ParameterCode("8867-4", "Heart rate", "147842", "MDC_ECG_HEART_RATE"),
    Parameter.PR: ParameterCode("8889-8", "Heart rate by Pulse oximetry", "149530", "MDC_PULS_OXIM_PULS_RATE"),
    Parameter.SPO2: ParameterCode(
        "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "150456", "MDC_PULS_OXIM_SAT_O2"
    ),
    Parameter.NIBP_SYS: ParameterCode("8480-6", "Systolic blood pressure", "150021", "MDC_PRESS_BLD_NONINV_SYS"),
    Parameter.NIBP_DIA: ParameterCode("8462-4", "Diastolic blood pressure", "150022", "MDC_PRESS_BLD_NONINV_DIA"),
    Parameter.NIBP_MEAN: ParameterCode("8478-0", "Mean blood pressure", "150023", "MDC_PRESS_BLD_NONINV_MEAN"),
    Parameter.RR: ParameterCode("9279-1", "Respiratory rate", "151562", "MDC_RESP_RATE"),
    Parameter.ETCO2: ParameterCode(
        "19889-5", "Carbon dioxide [Partial pressure] in Exhaled gas --at end expiration", "151708", "MDC_AWAY_CO2_ET"
    ),
}

#: The MDC CUFF family some monitors use for NIBP instead of NONINV (code, reference id).
CUFF_CODES: Final[dict[Parameter, tuple[str, str]]] = {
    Parameter.NIBP_SYS: ("150301", "MDC_PRESS_CUFF_SYS"),
    Parameter.NIBP_DIA: ("150302", "MDC_PRESS_CUFF_DIA"),
    Parameter.NIBP_MEAN: ("150303", "MDC_PRESS_CUFF_MEAN"),
}

#: Other identifiers monitors send for a parameter we record: pulse-rate variants (149538 is
#: 0x4822, the pleth pulse rate an IntelliVue reports with SpO2; 149514 is 0x480A, the pulse a
#: Philips Efficia sends with its source in OBX-17), the generic respiration rate 151552 (0x5000,
#: an Efficia's "Resp"), the transthoracic impedance respiration rate 151578 (0x501A, the RR a Mindray
#: gateway sends from the ECG leads) and the arterial SpO2 LOINC.
ALTERNATE_CODES: Final[dict[str, Parameter]] = {
    "149538": Parameter.PR,
    "149514": Parameter.PR,
    "MDC_PULS_RATE": Parameter.PR,
    "151552": Parameter.RR,
    "MDC_RESP": Parameter.RR,
    "151578": Parameter.RR,
    "MDC_TTHOR_RESP_RATE": Parameter.RR,
    SPO2_ARTERIAL[0]: Parameter.SPO2,
}

#: Identifiers of values monitors send that are not recorded and are not unknown: the cuff's pulse
#: (149546, 0xF0E5 on an IntelliVue) is a spot value from the last measurement, not the oximeter's pulse.
SKIPPED_CODES: Final = frozenset({"149546", "MDC_PULS_RATE_NON_INV"})

#: MDC unit codes (code, reference id) of the UCUM units values are recorded in.
MDC_UNITS: Final[dict[str, tuple[str, str]]] = {
    "/min": ("264864", "MDC_DIM_BEAT_PER_MIN"),
    "%": ("262688", "MDC_DIM_PERCENT"),
    "mm[Hg]": ("266016", "MDC_DIM_MMHG"),
}
#: Breaths per minute has its own MDC unit, though UCUM writes it /min like beats.
MDC_RESP_PER_MIN: Final = ("264928", "MDC_DIM_RESP_PER_MIN")
MDC_KILO_PASCAL: Final = ("265987", "MDC_DIM_KILO_PASCAL")


def recognised_codes() -> dict[str, Parameter]:
    """Every OBX-3 identifier that names a parameter: MDC numbers and reference ids, LOINC codes, alternates."""
    found: dict[str, Parameter] = {}
    for parameter, code in CODES.items():
        found[code.mdc] = found[code.mdc_name] = found[code.loinc] = parameter
    for parameter, (number, name) in CUFF_CODES.items():
        found[number] = found[name] = parameter
    found.update(ALTERNATE_CODES)
    return found
