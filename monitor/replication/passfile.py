"""Plain words for libpq's "no password supplied": which password file was looked at, and why it gave none.

A chair's or reader's URL names its password file (``passfile=``, else ``PGPASSFILE``, else ``~/.pgpass``). libpq
says only "fe_sendauth: no password supplied" when that file is missing, unreadable, readable by others (then it
ignores the file, as it should) or has no line for the connection; the person setting up a chair needs to know
which.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

#: libpq's words when it found no password to send.
NO_PASSWORD = "no password supplied"


def password_file(url: str) -> Path:
    """The password file libpq reads for ``url``."""
    named = conninfo_to_dict(url).get("passfile") or os.environ.get("PGPASSFILE")
    return Path(str(named)).expanduser() if named else Path.home() / ".pgpass"


def _matches(field: str, value: str) -> bool:
    return field == "*" or field == value


def _fields(line: str) -> list[str]:
    """A password file line's five fields (``\\:`` and ``\\\\`` are escapes)."""
    fields, current, escaped = [], "", False
    for char in line:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append(current)
            current = ""
        else:
            current += char
    return [*fields, current]


def password_cause(url: str) -> str | None:
    """Why the password file gave no password for ``url`` (None: it should have, or the URL has a password)."""
    info = conninfo_to_dict(url)
    if info.get("password"):
        return None
    path = password_file(url)
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return f"the password file {path} does not exist"
    except OSError as exc:
        return f"the password file {path} cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(found.st_mode):
        return f"the password file {path} is not a file"
    if found.st_mode & 0o077:
        return (f"the password file {path} may be read by others (mode {stat.S_IMODE(found.st_mode):04o}), so it is "
                f"ignored: make it owner-only (chmod 600 {path})")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return f"the password file {path} cannot be read ({getattr(exc, 'strerror', None) or exc})"
    wanted = [str(info.get(k) or default) for k, default in
              (("host", "localhost"), ("port", "5432"), ("dbname", info.get("user", "")), ("user", ""))]
    for line in lines:
        fields = _fields(line)
        if line.startswith("#") or len(fields) < 5:
            continue
        if all(_matches(field, value) for field, value in zip(fields[:4], wanted, strict=True)):
            return None
    host, port, dbname, user = wanted
    return f"the password file {path} has no line for {user}@{host}:{port}/{dbname}"
