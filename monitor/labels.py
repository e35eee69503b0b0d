"""How the program names a vital sign and its unit on screen, in alarm texts and in reports: the one table.

One entry per parameter carries every name it goes by. Keyed by the parameter's value (``Parameter`` members
are strings, so ``LABELS[Parameter.SPO2]`` works) and by the alarm rules' ``heart_rate`` (HR or PR, whichever
the device gives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


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
