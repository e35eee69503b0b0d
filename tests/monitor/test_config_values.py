"""A config file value of the wrong kind is named with the file and its line (README, "Where data is kept")."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.app.errors import AppError


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    monkeypatch.setenv("INFUSION_MONITOR_CONFIG", str(path))
    for name in ("PROFILE", "FEED", "FEED_ACK_MODE", "FEED_MAX_REFUSALS", "PATIENT_ID_SYSTEM", "CHAIR"):
        monkeypatch.delenv("INFUSION_MONITOR_" + name, raising=False)
    return path


def test_a_profile_that_is_a_number_names_the_config_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.app.profile import active_alarm_profile

    path = _config(tmp_path, monkeypatch, '# clinic\nprofile = 5\n')
    try:
        _profile, problem = active_alarm_profile(None)
    except AppError as exc:  # a config file error, as any other
        problem = str(exc)
    assert problem is not None
    assert f"{path}, line 2" in problem


@pytest.mark.parametrize("line", [
    'feed_max_refusals = "x"', "feed_ack_mode = 5", "patient_id_system = 5",  # of the wrong kind
    "feed_max_refusals = -3", 'feed_ack_mode = "fast"', 'patient_id_system = "hospital mrn"',  # out of range
])
def test_a_feed_setting_that_cannot_be_used_names_the_config_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    from monitor.app.services import ServiceSpec, check_services

    path = _config(tmp_path, monkeypatch, f'feed = "127.0.0.1:2575"\n{line}\n')
    with pytest.raises(AppError) as caught:
        check_services(ServiceSpec(feed=None, server=None, chair=None))
    assert f"{path}, line 2" in str(caught.value)


def test_a_chair_name_that_is_not_text_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.config import ConfigError
    from monitor.replication.chair import chair_name

    _config(tmp_path, monkeypatch, "chair = true\n")
    with pytest.raises(ConfigError, match="line 1"):
        chair_name(None)


def test_a_feed_receiver_that_cannot_be_used_names_the_config_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.app.services import ServiceSpec, check_services

    path = _config(tmp_path, monkeypatch, '# the EHR gateway\nfeed = "ehr-gateway"\n')
    with pytest.raises(AppError) as caught:
        check_services(ServiceSpec(feed=None, server=None, chair=None))
    assert f"{path}, line 2" in str(caught.value)


def test_a_relative_database_path_in_the_config_file_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.config import ConfigError, UserConfig, database_path

    monkeypatch.delenv("INFUSION_MONITOR_DB", raising=False)
    path = _config(tmp_path, monkeypatch, '# where the sessions are\ndb = "monitor.db"\n')
    # Relative to the folder the program happens to be started from: another folder, another (empty) database.
    with pytest.raises(ConfigError, match=rf"{path}, line 2"):
        database_path(None, UserConfig.load())


def test_a_relative_key_file_in_the_config_file_is_refused_naming_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Relative to the folder the program is started from, a key file is looked for (and a new one made) wherever
    it starts: a database sealed with it is then refused, or a new one sealed with a key nobody backed up."""
    import io

    from monitor.cli import main

    monkeypatch.delenv("INFUSION_MONITOR_KEY_FILE", raising=False)
    path = _config(tmp_path, monkeypatch, '# keys\nkey_file = "keys/monitor.key"\n')
    monkeypatch.chdir(tmp_path)
    for command in (["keys"], ["record", "--db", str(tmp_path / "m.db"), "--speed", "max", "--quiet"]):
        assert main(command, out=io.StringIO()) == 1
        said = capsys.readouterr().err
        assert f"{path}, line 2: key_file: 'keys/monitor.key' is not a full path" in said, said
    assert not (tmp_path / "keys").exists()


@pytest.mark.parametrize(("line", "said"), [
    ("auto_lock_min = 0", "0 is outside 1 to 60; expected a number in that range, e.g. auto_lock_min = 10"),
    ("auto_lock_min = 61", "61 is outside 1 to 60; expected a number in that range, e.g. auto_lock_min = 10"),
    ("feed_max_refusals = -3",
     "-3 is outside 1 to 1000; expected a whole number in that range, e.g. feed_max_refusals = 3"),
])
def test_a_number_out_of_its_range_names_the_config_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, said: str
) -> None:
    """An auto-lock of 0 or 61 minutes was a warning on standard error, the default used without naming the file;
    a refusal count of -3 was "not a whole number"."""
    from monitor.config import ConfigError, UserConfig

    path = _config(tmp_path, monkeypatch, f"# the chair\n{line}\n")
    key = line.split(" ")[0]
    with pytest.raises(ConfigError) as caught:
        UserConfig.load()
    assert str(caught.value) == f"{path}, line 2: {key}: {said}"
