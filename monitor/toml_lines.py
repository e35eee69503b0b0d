"""Where each key of a TOML text is written, so a checked file can name the line of a bad field.

``tomllib`` gives values without positions; clinic-edited files (alarm profiles, protocols)
need errors like ``file: line 12, field phases.infusion.max_min: ...``. This is a light scan of
table headers and ``key =`` lines, good enough for files written by hand.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\" ]+?)\s*=")
_INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z0-9_\-]+)\s*=")


#: The byte-order mark some editors put at the start of UTF-8 text; TOML does not allow it.
BOM = "\ufeff"
BOM_PROBLEM = "line 1: the file starts with a byte-order mark (BOM); save it as UTF-8 without BOM"


def load_toml(text: str, source: str, error: Callable[[str], Exception]) -> dict[str, Any]:
    """The TOML ``text`` as tables; a syntax error raises ``error`` naming ``source``."""
    if text.startswith(BOM):
        raise error(f"{source}: {BOM_PROBLEM}")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: {exc}") from None


def read_clinic_file(path: str | Path, what: str, error: Callable[[str], Exception]) -> tuple[Path, str]:
    """The expanded path and UTF-8 text of a clinic-edited file; any failure raises ``error`` naming ``what``."""
    path = Path(path).expanduser()
    try:
        return path, path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise error(f"{path}: {what} is not UTF-8 text") from None
    except ValueError:  # e.g. a NUL character in the file name from a config file
        raise error(f"{str(path)!r}: not a usable file name for {what}") from None


def _key_parts(text: str) -> list[str]:
    return [part.strip().strip('"') for part in text.split(".")]


class TomlLines:
    """Line numbers of tables and keys in a TOML text (dotted path -> 1-based line).

    Entries of an array of tables (``[[checks]]``) are numbered: the second ``[[checks]]``
    block's ``id`` is ``checks.1.id``.
    """

    def __init__(self, text: str, source: str, error: Callable[[str], Exception]) -> None:
        self.source = source
        self._make_error = error
        self.where: dict[str, int] = {}
        counts: dict[str, int] = {}
        table: list[str] = []
        for number, line in enumerate(text.splitlines(), start=1):
            array = _ARRAY_HEADER.match(line)
            header = _HEADER.match(line)
            if array:
                name = ".".join(_key_parts(array.group(1)))
                index = counts.get(name, 0)
                counts[name] = index + 1
                table = [*_key_parts(array.group(1)), str(index)]
                self._add(table, number)
                continue
            if header:
                table = _key_parts(header.group(1))
                self._add(table, number)
                continue
            key = _KEY.match(line)
            if key:
                path = [*table, *_key_parts(key.group(1))]
                self._add(path, number)
                for inner in _INLINE_KEY.finditer(line[key.end() :]):
                    self.where.setdefault(".".join([*path, inner.group(1)]), number)

    def _add(self, parts: list[str], number: int) -> None:
        for end in range(1, len(parts) + 1):
            self.where.setdefault(".".join(parts[:end]), number)

    def line(self, path: str) -> int | None:
        """The line of ``path``, else of its nearest written parent."""
        parts = path.split(".")
        while parts:
            found = self.where.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return None

    def error(self, path: str, problem: str) -> Exception:
        """An error naming file, line and field."""
        line = self.line(path)
        where = f"line {line}, " if line is not None else ""
        return self._make_error(f"{self.source}: {where}field {path}: {problem}")
