"""A server address that cannot work is refused where it was given, and ``record`` refuses what it can before it
makes anything.

The audit's cases: ``server = "http://clinic-db/infusion_monitor"`` gave libpq's 'missing "=" after …' with no file
or line; a port of 99999 recorded with rc 0 while the chair's rows queued for ever; a key set twice gave tomllib's
"Cannot overwrite a value"; a ``[server]`` table named no line; ``driver = …`` was offered 'server'; and
``record --driver simulatd`` made the database, its locks folder and a new key file before refusing the name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import config_file

VALID = 'server = "postgresql://chair2@clinic-db/im"'


def _config(text: str) -> Path:
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 1
    return capsys.readouterr().err


@pytest.mark.parametrize(("value", "said"), [
    ("http://clinic-db/infusion_monitor", "it starts with http://; a server's address starts with postgresql://"),
    ("host=clinic-db dbname=im user=chair2", "not a URL: a server's address starts with postgresql://"),
    ("postgresql://chair_1@127.0.0.1:99999/infusion_monitor?passfile=/p", "the port 99999 is not a number from 1"),
    ("postgresql://chair_1@clinic-db/im?port=0", "the port 0 is not a number from 1 to 65535"),
    ("postgresql://chair_1@a:5432,b:70000/im", "the port 70000 is not"),
    ("postgresql://chair_1@/im", "it names no server"),
    ("postgresql://chair_1@clinic-db", "it names no database"),
    ("postgresql://chair_1@clinic-db/im?nonsense=1", 'it cannot be read: invalid URI query parameter: "nonsense"'),
])
def test_a_server_address_that_cannot_work_names_the_config_line_with_an_example(
    isolated_user_folders: Path, capsys: pytest.CaptureFixture[str], value: str, said: str
) -> None:
    path = _config(f'# Chair 9\nserver = "{value}"\nchair = "Chair 9"\n')
    err = _refused(capsys, "sessions")  # checked when the config file is read, by any command
    assert f"{path}, line 2: server: {said}" in err and f"e.g. {VALID}" in err, err


@pytest.mark.parametrize("value", [
    "postgresql://chair2@clinic-db/im", "postgres://chair2@clinic-db:5433/im?sslmode=verify-full",
    "postgresql://chair2@/im?host=/var/run/postgresql&port=5432", "postgresql://chair2@[::1]:5433/im",
    "postgresql://chair2@a:5432,b:5433/im", "postgresql://chair2@clinic-db?dbname=im",
])
def test_an_address_libpq_can_use_is_taken(isolated_user_folders: Path, value: str) -> None:
    from monitor.replication.chair import server_url

    _config(f'server = "{value}"\n')
    assert server_url(None) == value


def test_the_variable_and_the_option_are_named_with_an_example(
    isolated_user_folders: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    monkeypatch.setenv("INFUSION_MONITOR_SERVER", "http://x/y")
    err = _refused(capsys, "record", "--db", str(db), "--duration", "1", "--quiet")
    assert ("INFUSION_MONITOR_SERVER: it starts with http://; a server's address starts with postgresql://; e.g. "
            "INFUSION_MONITOR_SERVER=postgresql://chair2@clinic-db/im") in err, err
    err = _refused(capsys, "record", "--db", str(db), "--server", "postgresql://u@h:99999/im", "--quiet")
    assert "--server: the port 99999 is not a number from 1 to 65535; e.g. --server postgresql://" in err, err
    assert not db.exists()  # nothing started


def test_a_chair_with_an_impossible_port_does_not_start(
    isolated_user_folders: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """It recorded (rc 0), "server link lost: invalid port number", its rows queued for ever."""
    _config('server = "postgresql://chair_1@127.0.0.1:99999/infusion_monitor"\nchair = "Chair 9"\n')
    db = tmp_path / "badport.db"
    err = _refused(capsys, "record", "--driver", "simulated", "--db", str(db), "--duration", "4", "--quiet")
    assert "line 1: server: the port 99999" in err
    assert not db.exists()


@pytest.mark.parametrize(("text", "said"), [
    ('chair = "A"\n\nchair = "B"\n', "line 3: chair: set a second time (first on line 1); keep one of them"),
    ('chair = "A"\n[server]\nurl = "postgresql://chair2@clinic-db/im"\n',
     'line 2: server: expected a URL in quotes, e.g. server = "postgresql://'),
    ('driver = "simulatd"\n', "line 1: driver: there is no config key for the device's driver: it is chosen when "
                              "recording starts, with --driver NAME"),
    ('feed_ack = "enhanced"\n', "(did you mean 'feed_ack_mode'?)"),
])
def test_other_config_mistakes_are_named_as_they_are(
    isolated_user_folders: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    path = _config(text)
    err = _refused(capsys, "sessions")
    assert str(path) in err and said in err, err
    assert "did you mean 'server'" not in err and "Cannot overwrite" not in err


@pytest.mark.parametrize("device", [["--driver", "simulatd"], ["--driver", "nonin", "--port", "/dev/no-such-tty"],
                                    ["--scenario", "sepsis"], ["--driver", "nonin"]])
def test_record_refuses_a_device_it_cannot_open_before_it_makes_anything(
    isolated_user_folders: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path, device: list[str]
) -> None:
    key = tmp_path / "keys" / "monitor.key"
    monkeypatch.setenv("INFUSION_MONITOR_KEY_FILE", str(key))
    db = tmp_path / "NEW.db"
    err = _refused(capsys, "record", *device, "--db", str(db), "--duration", "1", "--quiet")
    assert "unknown" in err or "--port" in err or "there is no /dev/no-such-tty" in err, err
    assert "back it up now" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no database, no .locks folder, no key file
