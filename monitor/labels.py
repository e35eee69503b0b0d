"""How the program names a vital sign and its unit on screen, in alarm texts and in reports: the one table.

Keyed by the parameter's value (``Parameter`` members are strings, so ``LABELS[Parameter.SPO2]`` works) and
by the alarm rules' ``heart_rate`` (HR or PR, whichever the device gives).
"""

from __future__ import annotations

from typing import Final

#: Short name of each parameter.
LABELS: Final[dict[str, str]] = {
    "hr": "HR",
    "pr": "PR",
    "heart_rate": "HR",
    "spo2": "SpO2",
    "nibp_sys": "NIBP sys",
    "nibp_dia": "NIBP dia",
    "nibp_mean": "NIBP mean",
    "rr": "RR",
    "etco2": "EtCO2",
}
#: Its unit as people write it (the stored units are UCUM, e.g. ``mm[Hg]``).
UNIT_TEXT: Final[dict[str, str]] = {
    "hr": "/min",
    "pr": "/min",
    "heart_rate": "/min",
    "spo2": "%",
    "nibp_sys": "mmHg",
    "nibp_dia": "mmHg",
    "nibp_mean": "mmHg",
    "rr": "/min",
    "etco2": "mmHg",
}
