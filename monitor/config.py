"""Where things live and how settings are found: flag, then INFUSION_MONITOR_* variable,
then the user's config file (TOML under the platform's config folder), then defaults."""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

import platformdirs

from monitor.toml_lines import BOM, BOM_PROBLEM

APP_NAME = "infusion-monitor"
ENV_PREFIX = "INFUSION_MONITOR_"


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the file and line."""


def data_dir() -> Path:
    """The platform's per-user data folder for the app."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """The platform's per-user config folder for the app."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def config_file() -> Path:
    """The user's config file (may not exist)."""
    env = os.environ.get(ENV_PREFIX + "CONFIG")
    return Path(env) if env else config_dir() / "config.toml"


def load_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error names the file, line and column."""
    try:
        with path.open("rb") as handle:
            raw = handle.read()
        if raw.startswith(BOM.encode()):
            raise ConfigError(f"{path}: {BOM_PROBLEM}")
        text = raw.decode("utf-8")
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        twice = _set_twice(text, str(exc))
        raise ConfigError(f"{path}, {twice}" if twice else f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} cannot be read)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None


def _set_twice(text: str, problem: str) -> str | None:
    """tomllib's "Cannot overwrite a value (at line 3, column 12)" said as the key set a second time, both lines and
    what to do (None: ``problem`` is another one)."""
    found = re.match(r"Cannot overwrite a value \(at line (\d+),", problem)
    lines = text.splitlines()
    number = int(found.group(1)) if found else 0
    if not 1 <= number <= len(lines):
        return None
    key = _key_of(lines[number - 1])
    first = next((n for n, line in enumerate(lines[:number - 1], start=1) if _key_of(line) == key), None)
    earlier = f" (first on line {first})" if first else ""
    return f"line {number}: {key}: set a second time{earlier}; keep one of them"


def _key_of(line: str) -> str:
    """The top-level key a line of TOML sets (or the table it opens, ``[server]``), as written."""
    return line.split("=", 1)[0].strip().strip("[]").split(".", 1)[0].strip().strip("\"'")


#: Every key the config file may hold (README, "Where data is kept" and the sections each key belongs to). A key
#: not here is a mistake (a misspelt ``sever`` would leave the chair off the clinic's server without a word).
KNOWN_KEYS: Final = frozenset({
    "db", "profile", "key_file", "server", "chair", "feed", "feed_ack_mode", "feed_max_refusals",
    "patient_id_system", "auto_lock_min",
})


#: Settings a chair is given on its command line or in its window only, and how (a config file naming one is told so).
_COMMAND_LINE_ONLY: Final = {
    "driver": "device's driver: it is chosen when recording starts, with --driver NAME (infusion-monitor drivers "
              "lists them), or in the window's device settings",
    "port": "device's port: it is chosen when recording starts, with --port, or in the window's device settings",
}

#: What each text setting holds, with an example, for the message naming a value of another kind.
_TEXT_KEYS: Final = {
    "db": ("a file path", 'db = "/srv/monitor/monitor.db"'),
    "profile": ("a file path", 'profile = "/srv/monitor/clinic.toml"'),
    "key_file": ("a file path", 'key_file = "/srv/monitor/keys/monitor.key"'),
    "server": ("a URL", 'server = "postgresql://chair2@clinic-db/im"'),
    "chair": ("a name", 'chair = "Chair 3"'),
    "feed": ("HOST:PORT", 'feed = "ehr-gateway:2575"'),
    "feed_ack_mode": ("original or enhanced", 'feed_ack_mode = "enhanced"'),
    "patient_id_system": ("a URI", 'patient_id_system = "urn:oid:1.2.3.4"'),
}
#: The number settings: whether a whole number is required, an example, and the range allowed (the lock after
#: 1 to 60 minutes without input; a message refused at least once before it is set aside).
_NUMBER_KEYS: Final[dict[str, tuple[bool, str, float, float]]] = {
    "feed_max_refusals": (True, "feed_max_refusals = 3", 1, 1000),
    "auto_lock_min": (False, "auto_lock_min = 10", 1, 60),
}


#: The schemes libpq takes for a server's URL.
SERVER_SCHEMES: Final = ("postgresql", "postgres")
#: The highest TCP port.
LAST_PORT: Final = 65535


def _host_and_port(item: str) -> tuple[str, str]:
    """One ``host[:port]`` of a URL's host list (``[::1]:5432`` for an IPv6 address), undecoded."""
    if item.startswith("[") and "]" in item:
        host, _, after = item[1:].partition("]")
        return host, after[1:] if after.startswith(":") else ""
    host, colon, port = item.partition(":")
    return (host, port) if colon else (item, "")


def server_address_problem(value: str) -> str | None:
    """What keeps ``value`` from being the address of the clinic's server (None: nothing): a PostgreSQL URL
    naming a host or the folder of its socket, a port from 1 to 65535 where one is given, and a database.

    libpq reads a port of 99999 or a URL without a host and only fails at each connection, so a chair started with
    one recorded as if the server were down for a while, its rows queued for ever. The value itself is not
    repeated: it may hold a password."""
    scheme, sep, rest = value.strip().partition("://")
    if not sep:
        return "not a URL: a server's address starts with postgresql://"
    if scheme.lower() not in SERVER_SCHEMES:
        return f"it starts with {scheme[:20]}://; a server's address starts with postgresql://"
    # Imported here: only a config file naming a server needs libpq's reading of it.
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(value)
    except ProgrammingError as exc:
        return f"it cannot be read: {str(exc).strip().replace(value, '…')}"
    before_query, _, query = rest.partition("?")
    authority, _, path = before_query.partition("/")
    options = dict(parse_qsl(query, keep_blank_values=True))
    listed = [_host_and_port(item) for item in authority.rpartition("@")[2].split(",")]
    ports = [port for _host, port in listed if port] + [p for p in options.get("port", "").split(",") if p]
    for port in ports:
        if not port.isdigit() or not 1 <= int(port) <= LAST_PORT:
            return f"the port {port[:20]} is not a number from 1 to {LAST_PORT}"
    if not any(unquote(host) for host, _port in listed) and not (options.get("host") or options.get("hostaddr")):
        return ("it names no server: give its host name or address after postgresql:// (or the folder of its "
                "socket, ?host=/var/run/postgresql)")
    if not unquote(path) and not options.get("dbname"):
        return "it names no database: give its name after the host (/infusion_monitor)"
    return None


@dataclass(frozen=True)
class UserConfig:
    """Values from the user's config file (empty when there is none)."""

    values: Mapping[str, Any]
    path: Path | None

    def describe(self, key: str) -> str:
        """``file, line N`` of a top-level key (or just the file), for error messages."""
        if self.path is None:
            return key
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return f"{self.path}: {key}"
        for number, line in enumerate(lines, start=1):
            if _key_of(line) == key:
                return f"{self.path}, line {number}: {key}"
        return f"{self.path}: {key}"

    @classmethod
    def load(cls) -> UserConfig:
        """Read the config file if it exists (and only if no other user could have written it)."""
        path = config_file()
        if not path.exists():
            return cls({}, None)
        check_owned(path)
        found = cls(load_toml(path), path)
        for key in found.values:
            if key not in KNOWN_KEYS:
                if key in _COMMAND_LINE_ONLY:
                    raise ConfigError(f"{found.describe(key)}: there is no config key for the "
                                      f"{_COMMAND_LINE_ONLY[key]}")
                # Close enough only: "driver" was offered 'server' (0.67), sending IT the wrong way.
                near = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1, cutoff=0.75)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                raise ConfigError(f"{found.describe(key)}: not a setting this program knows{hint}; the settings are "
                                  f"{', '.join(sorted(KNOWN_KEYS))}")
        for key, value in found.values.items():
            found.check_kind(key, value)
        return found

    def check_kind(self, key: str, value: Any) -> None:
        """:class:`ConfigError` naming the file and line when ``value`` is not of the kind ``key`` holds."""
        if key in _TEXT_KEYS and not isinstance(value, str):
            what, example = _TEXT_KEYS[key]
            raise ConfigError(f"{self.describe(key)}: expected {what} in quotes, e.g. {example}")
        problem = server_address_problem(value) if key == "server" and value else None
        if problem:
            raise ConfigError(f"{self.describe(key)}: {problem}; e.g. {_TEXT_KEYS[key][1]}")
        if key in _NUMBER_KEYS:
            whole, example, low, high = _NUMBER_KEYS[key]
            kinds: tuple[type, ...] = (int,) if whole else (int, float)
            what = "a whole number" if whole else "a number"
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise ConfigError(f"{self.describe(key)}: expected {what}, e.g. {example}")
            assert isinstance(value, (int, float))  # as checked just above
            if not low <= value <= high:
                # Out of range was once a warning on standard error, and the default used without a word here.
                raise ConfigError(f"{self.describe(key)}: {value:g} is outside {low} to {high}; expected {what} in "
                                  f"that range, e.g. {example}")

    def origin(self, key: str) -> str | None:
        """Where a setting that is not on the command line comes from: its variable, or the config file and line
        (None when neither sets it)."""
        if os.environ.get(ENV_PREFIX + key.upper()):
            return ENV_PREFIX + key.upper()
        if key in self.values:
            return self.describe(key)
        return None

    def text(self, key: str, what: str, example: str) -> str | None:
        """The value of ``key`` as text (None when not set), or :class:`ConfigError` naming the file and line and
        ``what`` the value should be (``a URL``)."""
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{self.describe(key)}: expected {what} in quotes, e.g. {example}")
        return value


def check_owned(path: Path) -> None:
    """Refuse a config file another user owns or may write: it names the database, the key file, the
    feed's receiver and the alarm profile, so whoever can write it can redirect the patient's data."""
    if not hasattr(os, "getuid"):
        return  # no POSIX owners here
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if info.st_uid not in (os.getuid(), 0):
        raise ConfigError(f"{path}: owned by another user (uid {info.st_uid}); this program reads only a config "
                          "file of its own user's")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(f"{path}: other users may change it (mode {stat.S_IMODE(info.st_mode):o}); "
                          f"make it private: chmod 600 {path}")


def environment(name: str) -> str | None:
    """The ``INFUSION_MONITOR_<NAME>`` variable (None when unset), or :class:`ConfigError` naming it when it is
    not UTF-8 text (it would reach the database, whose text is UTF-8)."""
    variable = ENV_PREFIX + name.upper()
    value = os.environ.get(variable)
    if value:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = value.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            raise ConfigError(f"{variable} '{shown}' is not UTF-8 text; set it again") from None
    return value


def setting(name: str, flag_value: Any, default: Any, user: UserConfig | None = None) -> Any:
    """Resolve one setting by precedence: flag, environment, config file, default."""
    if flag_value is not None:
        return flag_value
    env = environment(name)
    if env:
        return env
    if user is not None and name in user.values:
        return user.values[name]
    return default


def database_path(flag_value: str | None, user: UserConfig | None = None) -> Path:
    """The database file to use (``--db``, ``INFUSION_MONITOR_DB``, config ``db``, or the data folder)."""
    value = setting("db", flag_value, None, user)
    if not value:
        return data_dir() / "monitor.db"
    if flag_value is not None:
        where = "--db"
    elif os.environ.get(ENV_PREFIX + "DB"):
        where = ENV_PREFIX + "DB"
    else:
        where = user.describe("db") if user is not None else "db"
    if not isinstance(value, str) or "\0" in value:
        raise ConfigError(f'{where}: expected a file path in quotes, e.g. db = "/srv/monitor/monitor.db"')
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~someone" for a user this computer does not know
        raise ConfigError(f"{where}: cannot find the home folder in '{value}'") from None
    if flag_value is None and not os.environ.get(ENV_PREFIX + "DB") and not path.is_absolute():
        # From the config file, a relative path would name another database in every folder the program starts in.
        raise ConfigError(f"{where}: '{value}' is not a full path; give one, e.g. db = \"/srv/monitor/monitor.db\"")
    return path
