"""A site's HL7 code map (--set codes=FILE) that cannot be used is named with its file, and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.hl7.codemap import CodeMap
from drivers.settings import SettingsError


def test_a_code_map_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "codes.toml"
    path.write_text('[codes]\n"HR-ECG" = "hr"\n', encoding="utf-16")
    with pytest.raises(SettingsError, match=str(path)):
        CodeMap.from_file(path)


def test_a_code_mapped_to_an_unknown_parameter_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "codes.toml"
    path.write_text('[codes]\n"HR-ECG" = "hr"\n"SAT" = "spo3"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="line 3"):
        CodeMap.from_file(path)
