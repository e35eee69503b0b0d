"""A file saved as "UTF-8 with BOM" (Windows Notepad's UTF-8 until 2019) is refused saying so, not as a
TOML syntax error at line 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.alarms.profile import ProfileError, load_profile
from monitor.config import ConfigError, UserConfig
from monitor.protocols import ProtocolError, load_protocol_file, shipped_text

BOM = "\ufeff"


def test_a_profile_with_a_bom_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "clinic.toml"
    path.write_text(BOM + '[profile]\nname = "North"\n', encoding="utf-8")
    with pytest.raises(ProfileError, match="byte-order mark"):
        load_profile(path)


def test_a_protocol_with_a_bom_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "clinic.toml"
    path.write_text(BOM + shipped_text("ketamine-iv"), encoding="utf-8")
    with pytest.raises(ProtocolError, match="byte-order mark"):
        load_protocol_file(path)


def test_a_config_file_with_a_bom_is_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text(BOM + f'db = "{tmp_path / "m.db"}"\n', encoding="utf-8")
    path.chmod(0o600)
    monkeypatch.setenv("INFUSION_MONITOR_CONFIG", str(path))
    with pytest.raises(ConfigError, match="byte-order mark"):
        UserConfig.load()


def test_a_code_map_with_a_bom_is_named_as_such(tmp_path: Path) -> None:
    from drivers.hl7.codemap import CodeMap
    from drivers.settings import SettingsError

    path = tmp_path / "codes.toml"
    path.write_text(BOM + '[codes]\n"HR-ECG" = "hr"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="byte-order mark"):
        CodeMap.from_file(path)
