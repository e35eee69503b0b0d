"""Bad input gets one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["record", "--driver", "nope", "--duration", "1"], "unknown driver 'nope'"),
        (["record", "--plan", "baseline:5,infusion:abc"], "'abc' is not a number"),
        (["record", "--scenario", "sepsis", "--duration", "1"], "unknown scenario 'sepsis'"),
        (["record", "--speed", "0"], "speed must be greater than 0"),
        (["export", "deadbeef", "--format", "csv"], "no session with id 'deadbeef'"),
        (["export", "latest", "--format", "xml"], "unknown export format 'xml'"),
        (["record", "--patient", "\x1b]0;pwned\x07\x1b[2J", "--duration", "1"],
         "the MRN holds a control character"),
        (["record", "--patient", "", "--duration", "1"], "--patient: the MRN is empty"),
        (["course", " "], "the MRN is empty"),
    ],
)
def test_user_errors_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    if args[0] == "export":
        main(["record", "--db", str(db), "--speed", "max", "--duration", "0.5", "--quiet"])
    result = run_cli(*args, "--db", str(db))
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_database_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.db"
    bad.write_bytes(b"\x00garbage" * 512)
    result = run_cli("sessions", "--db", str(bad))
    assert result.returncode == 1
    assert f"{bad} is not a database file (SQLite finds no database in it); nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_database_for_listing(tmp_path: Path) -> None:
    result = run_cli("sessions", "--db", str(tmp_path / "none.db"))
    assert result.returncode == 1
    assert "no database at" in result.stderr


def test_database_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("INFUSION_MONITOR_DB", str(db))
    assert main(["record", "--speed", "max", "--duration", "0.3", "--quiet"]) == 0
    assert db.exists()
    capsys.readouterr()
    assert main(["sessions"]) == 0
    assert "closed" in capsys.readouterr().out


def test_default_database_lives_in_the_user_data_folder(isolated_user_folders: Path) -> None:
    from monitor.config import database_path

    path = database_path(None)
    assert str(path).startswith(str(isolated_user_folders))
    assert path.name == "monitor.db"


def test_bad_config_file_names_the_line(isolated_user_folders: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.config import config_file

    cfg = config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('db = "/tmp/x.db"\nthis is not toml\n')
    assert main(["sessions"]) == 1
    err = capsys.readouterr().err
    assert str(cfg) in err and "line 2" in err


# Found by the fuzz suite (tests/fuzz/test_fuzz_config.py): each of these was a traceback.
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe db = 1", "not UTF-8 text"),
        (b"\n\ndb = 5\n", "line 3: db: expected a file path in quotes"),
        (b"db.path = []\n", "line 1: db: expected a file path in quotes"),
        (b'db = "a\\u0000b"\n', "expected a file path in quotes"),
        # A misspelt key was ignored: a chair set to `sever = ...` recorded without its server, saying nothing.
        (b'# clinic\nsever = "postgresql://chair_1@clinic-db/im"\n',
         "line 2: sever: not a setting this program knows (did you mean 'server'?)"),
    ],
)
def test_config_file_values_of_the_wrong_kind_are_named(
    isolated_user_folders: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    from monitor.config import config_file

    cfg = config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_bytes(content)
    assert main(["sessions"]) == 1
    err = capsys.readouterr().err
    assert str(cfg) in err and message in err, err


def test_alarm_profile_path_with_a_nul_character_keeps_the_built_in_profile(isolated_user_folders: Path) -> None:

    from monitor.app.profile import active_alarm_profile
    from monitor.config import config_file

    cfg = config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('profile = "clinic\\u0000.toml"\n')
    profile, problem = active_alarm_profile(None)
    assert profile.rules
    assert problem is not None and "not a usable file name" in problem


def test_db_under_an_unknown_users_home_is_a_named_error(
    isolated_user_folders: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by the fuzz suite: "~nobody-here/x" made pathlib raise instead of a clear message.
    from monitor.config import config_file

    cfg = config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('db = "~nobody-here/x"\n')
    assert main(["sessions"]) == 1
    err = capsys.readouterr().err
    assert f"{cfg}, line 1: db" in err and "home folder" in err
    monkeypatch.setenv("INFUSION_MONITOR_DB", "~nobody-here/y")
    assert main(["sessions"]) == 1
    assert "INFUSION_MONITOR_DB: cannot find the home folder" in capsys.readouterr().err
    assert main(["sessions", "--db", "~nobody-here/z"]) == 1
    assert "--db: cannot find the home folder" in capsys.readouterr().err


def test_profile_under_an_unknown_users_home_leaves_the_built_in_profile(capsys: pytest.CaptureFixture[str]) -> None:
    # Found by the fuzz suite, like the db case above.

    from monitor.app.profile import active_alarm_profile

    profile, problem = active_alarm_profile("~nobody-here/clinic.toml")
    assert profile.name == "default"
    assert problem is not None and "cannot find the home folder" in problem
    assert main(["limits", "--profile", "~nobody-here/clinic.toml"]) == 1
    assert "cannot find the home folder" in capsys.readouterr().err


def test_an_escape_sequence_kept_in_an_older_record_is_not_sent_to_the_terminal(tmp_path: Path) -> None:
    import io

    from monitor import identifiers
    from monitor.store import Store

    db = tmp_path / "m.db"
    with Store(db) as store:
        patient_id = "p-old"
        assert store.keys is not None
        store.db.execute(  # as a version that did not check typed identifiers wrote it
            "INSERT INTO patients (id, mrn, name, birth_date, mrn_lookup, created_at) VALUES (?, ?, NULL, NULL, ?, 1)",
            [patient_id, identifiers.encrypt(store.keys, patient_id, "mrn", "\x1b[2J\x1b]0;x"),
             identifiers.mrn_lookup(store.keys, "\x1b[2J\x1b]0;x")])
        store.create_session(started_at=1_790_000_000.0, patient_id=patient_id, driver="simulated", port=None,
                             plan="")
        with pytest.raises(ValueError, match="control character"):
            store.create_patient("MRN\x1b[2J")
    out = io.StringIO()
    assert main(["sessions", "--db", str(db)], out) == 0
    assert "\x1b" not in out.getvalue() and "?[2J?]0;x" in out.getvalue()


@pytest.mark.parametrize(("content", "read", "message"), [
    ('# keys\nkey_file = 7\n', "key_file", "line 2: key_file: expected a file path in quotes"),
    ('# clinic\nserver = 5\n', "server", "line 2: server: expected a URL in quotes"),
])
def test_a_config_value_of_the_wrong_kind_names_its_line_where_it_is_read(
    isolated_user_folders: Path, monkeypatch: pytest.MonkeyPatch, content: str, read: str, message: str
) -> None:
    """``key_file = 7`` was ignored (the default key file used instead) and ``server = 5`` named no line."""
    monkeypatch.delenv("INFUSION_MONITOR_KEY_FILE")  # the config file's key_file is what is read
    from monitor.config import config_file
    from monitor.keys import KeyFileError, key_file_path
    from monitor.replication.chair import ServerSettingError, server_url

    cfg = config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(content)
    cfg.chmod(0o600)
    with pytest.raises((KeyFileError, ServerSettingError)) as raised:
        key_file_path() if read == "key_file" else server_url(None)
    assert str(cfg) in str(raised.value) and message in str(raised.value), raised.value


@pytest.mark.parametrize(("option", "said"), [
    (["--server", "postgresql://u:secret@clinic-db/im"], "a password on the command line"),
    (["--feed", "no-port-here"], "no-port-here"),
])
def test_a_service_setting_that_cannot_be_used_is_refused_before_a_session_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], said: str
) -> None:
    """Refused after the session was made, each try left an empty "unfinished" session (with its patient)."""
    db = tmp_path / "m.db"
    assert main(["record", "--db", str(db), "--patient", "MRN-TYPO", "--speed", "max", "--quiet", *option]) == 1
    assert said in capsys.readouterr().err
    assert not db.exists()  # refused before the database is made, so no session either
