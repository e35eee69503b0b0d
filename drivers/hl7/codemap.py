"""Which parameter an HL7 OBX-3 code names, and which OBX-6 units each parameter accepts.

Three code systems are built in: IEEE 11073 MDC (the number or the reference name), LOINC, and
Philips MDIL, the ``PPPP-CCCC`` form IntelliVue gateways send (``0002-4182^HR^MDIL``): the
partition and the code in hexadecimal, so MDIL 0002-4182 is MDC 2 × 65536 + 0x4182 = 147842.
Any MDIL code is translated that way and then looked up as MDC. A site adds its own vendor codes
with a code map file (``--set codes=FILE``), a TOML table such as::

    [codes]
    "HR-ECG" = "hr"
    "0002-5012" = "rr"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from drivers.core.codes import MDC_KILO_PASCAL, MDC_RESP_PER_MIN, MDC_UNITS, SKIPPED_CODES, recognised_codes
from drivers.core.readings import Parameter
from drivers.settings import SettingsError

#: OBX-3 codes (MDC number, MDC reference name, LOINC, alternates) by parameter, from the one code table.
BUILT_IN_CODES: Final[dict[str, Parameter]] = recognised_codes()

_MDIL = re.compile(r"([0-9A-Fa-f]{4})-([0-9A-Fa-f]{4})")

_RATE_UNITS = {"/min": 1.0, "1/min": 1.0, "bpm": 1.0, "{beats}/min": 1.0, "{beat}/min": 1.0, "beats/min": 1.0}
_RATE_UNITS |= {code.lower(): 1.0 for code in MDC_UNITS["/min"]}
_BREATH_UNITS = {"/min": 1.0, "1/min": 1.0, "rpm": 1.0, "brpm": 1.0, "{breaths}/min": 1.0, "breaths/min": 1.0}
_BREATH_UNITS |= {code.lower(): 1.0 for code in MDC_RESP_PER_MIN}
_PRESSURE_UNITS = {"mm[hg]": 1.0, "mmhg": 1.0, "mdc_dim_mm_hg": 1.0}
_PRESSURE_UNITS |= {code.lower(): 1.0 for code in MDC_UNITS["mm[Hg]"]}
_PRESSURE_UNITS |= {"kpa": 7.500617} | {code.lower(): 7.500617 for code in MDC_KILO_PASCAL}
_PERCENT_UNITS = {"%": 1.0} | {code.lower(): 1.0 for code in MDC_UNITS["%"]}

#: Accepted OBX-6 identifiers (lower case) and the factor to the parameter's UCUM unit.
UNITS: Final[dict[Parameter, dict[str, float]]] = {
    Parameter.HR: _RATE_UNITS,
    Parameter.PR: _RATE_UNITS,
    Parameter.SPO2: _PERCENT_UNITS,
    Parameter.NIBP_SYS: _PRESSURE_UNITS,
    Parameter.NIBP_DIA: _PRESSURE_UNITS,
    Parameter.NIBP_MEAN: _PRESSURE_UNITS,
    Parameter.RR: _BREATH_UNITS,
    Parameter.ETCO2: _PRESSURE_UNITS,
}


def mdil_to_mdc(code: str) -> str | None:
    """The MDC number of a Philips MDIL ``PPPP-CCCC`` code (hexadecimal partition and code), else None."""
    match = _MDIL.fullmatch(code.strip())
    if match is None:
        return None
    return str(int(match[1], 16) * 65536 + int(match[2], 16))


class CodeMap:
    """OBX-3 code to parameter: the built-in codes, MDIL by translation, and a site's own codes."""

    def __init__(self, extra: Mapping[str, Parameter] | None = None) -> None:
        self.codes: dict[str, Parameter] = {k.upper(): v for k, v in BUILT_IN_CODES.items()}
        for code, parameter in (extra or {}).items():
            self.codes[code.strip().upper()] = parameter

    def lookup(self, code: str) -> Parameter | None:
        """The parameter a code names (site codes first, then built-in, then MDIL translated), or None."""
        key = code.strip().upper()
        if not key:
            return None
        found = self.codes.get(key)
        if found is not None:
            return found
        mdc = mdil_to_mdc(key)
        return self.codes.get(mdc) if mdc is not None else None

    def skipped(self, code: str) -> bool:
        """True for a code that names a value not recorded on purpose (the cuff's pulse), MDIL included."""
        key = code.strip().upper()
        return bool(key) and (key in SKIPPED_CODES or mdil_to_mdc(key) in SKIPPED_CODES) and key not in self.codes

    @classmethod
    def from_file(cls, path: str | Path) -> CodeMap:
        """A map with the ``[codes]`` table of a TOML file added (SettingsError naming what is wrong)."""
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
            if text.startswith("\ufeff"):
                raise SettingsError(f"code map {path}: the file starts with a byte-order mark (BOM); save it as "
                                    "UTF-8 without BOM")
            data = tomllib.loads(text)
        except OSError as exc:
            raise SettingsError(f"code map {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise SettingsError(f"code map {path} is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"code map {path} is not TOML: {exc}") from None
        table = data.get("codes")
        if not isinstance(table, dict) or not table:
            raise SettingsError(f"code map {path} has no [codes] table")
        known = {p.value: p for p in UNITS}
        extra: dict[str, Parameter] = {}
        for code, name in table.items():
            if not isinstance(name, str) or name not in known:
                raise SettingsError(
                    f"code map {path}{_line_of(text, code)}: '{code}' maps to {name!r}; expected one of "
                    f"{', '.join(sorted(known))}"
                )
            extra[code] = known[name]
        return cls(extra)


def _line_of(text: str, key: str) -> str:
    """``, line N`` of the line where ``key`` is given a value ('' when it cannot be found)."""
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.partition("=")[0].strip()
        if "=" in line and name.strip("\"'") == key:
            return f", line {number}"
    return ""


def unit_factor(parameter: Parameter, unit: str) -> float | None:
    """Factor from an OBX-6 unit to the parameter's UCUM unit (1 for an empty unit); None when foreign."""
    if not unit:
        return 1.0
    accepted = UNITS[parameter]
    found = accepted.get(unit.strip().lower())
    if found is None:
        mdc = mdil_to_mdc(unit)  # Philips sends units as MDIL too: 0004-0aa0 is MDC 264864 (/min)
        found = accepted.get(mdc) if mdc is not None else None
    return found
