"""Session exports. Each format is a module with ``write(record, stream)``; see :data:`FORMATS`.

A format reads its options (de-identification, session-relative time, FHIR resampling) from
``record.options``, set when the record is loaded (:func:`monitor.exports.data.load`).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import IO, Any

from monitor.exports.data import SessionRecord

# format name -> (module, binary output?)
FORMATS: dict[str, tuple[str, bool]] = {
    "csv": ("monitor.exports.csv_export", False),
    "json": ("monitor.exports.json_export", False),
    "hl7": ("monitor.exports.hl7_export", False),
    "fhir": ("monitor.exports.fhir_export", False),
    "pdf": ("monitor.exports.pdf_export", True),
}


class ExportError(Exception):
    """An export that cannot be produced, with the reason."""


def writer(fmt: str) -> tuple[Callable[[SessionRecord, IO[Any]], None], bool]:
    """The write function of a format and whether it writes bytes."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format '{fmt}'; choose from {', '.join(FORMATS)}")
    module_name, binary = FORMATS[fmt]
    module = import_module(module_name)
    write: Callable[[SessionRecord, IO[Any]], None] = module.write
    return write, binary
