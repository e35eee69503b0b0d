"""Which server a chair uses and under which name; a password never on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import UserConfig
from monitor.replication.chair import ServerSettingError, chair_name, server_url
from monitor.replication.replicator import ReplicationStatus, redacted


def test_flag_then_environment_then_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = UserConfig({"server": "postgresql://chair_1@db.clinic/im", "chair": "Chair 1"}, tmp_path / "c.toml")
    assert server_url(None, config) == "postgresql://chair_1@db.clinic/im"
    assert chair_name(None, config) == "Chair 1"
    monkeypatch.setenv("INFUSION_MONITOR_SERVER", "postgresql://chair_2@db.clinic/im")
    assert server_url(None, config) == "postgresql://chair_2@db.clinic/im"
    assert server_url("postgresql://chair_3@db.clinic/im", config) == "postgresql://chair_3@db.clinic/im"
    monkeypatch.delenv("INFUSION_MONITOR_SERVER")
    assert server_url(None, UserConfig({}, None)) is None


def test_a_password_on_the_command_line_is_refused() -> None:
    with pytest.raises(ServerSettingError, match="password file"):
        server_url("postgresql://chair_1:secret@db.clinic/im", UserConfig({}, None))
    with pytest.raises(ServerSettingError, match="password file"):
        server_url("host=db.clinic user=chair_1 password=secret dbname=im", UserConfig({}, None))


def test_bad_settings_are_named() -> None:
    with pytest.raises(ServerSettingError, match="expected a URL"):
        server_url(None, UserConfig({"server": 5432}, None))
    with pytest.raises(ServerSettingError, match="cannot be read"):
        server_url("postgresql://[broken", UserConfig({}, None))


def test_what_the_chair_shows_never_includes_the_password() -> None:
    assert redacted("postgresql://chair_1:secret@db.clinic:5433/im") == "chair_1@db.clinic/im"
    status = ReplicationStatus(redacted("postgresql://chair_1:secret@db/im"), True, 120, 34.0, None, None)
    assert status.text == "Server chair_1@db/im: connected, 120 rows (34 s) to send"
    assert "secret" not in status.text
