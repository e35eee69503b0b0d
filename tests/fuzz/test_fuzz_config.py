"""The user's config file: any bytes give settings or a ConfigError naming the file, never a traceback.

Exercised the way the command line reads it: ``UserConfig.load`` (found through
INFUSION_MONITOR_CONFIG), then the database path and the alarm profile it names.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.app.profile import active_alarm_profile
from monitor.config import ConfigError, UserConfig, database_path
from tests.fuzz.attempt import attempt
from tests.fuzz.toml_values import assignments, raw_documents

# The keys the app reads come up most often; odd spellings and unknown keys too.
KEYS = st.one_of(st.sampled_from(["db", "profile"]), st.sampled_from(['"db"', "db.path", "profile.x", "driver"]),
                 st.from_regex(r"[A-Za-z0-9_-]{1,10}", fullmatch=True))
DOCUMENTS = st.one_of(assignments(KEYS).map(lambda text: text.encode()), raw_documents())


@pytest.fixture(scope="module")
def config_path() -> Iterator[Path]:
    """One config file, rewritten for each example."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "config.toml"


@given(document=DOCUMENTS)
def test_any_config_file_gives_settings_or_an_error_naming_it(config_path: Path, document: bytes) -> None:
    # Set here, per example: the suite's autouse fixture clears INFUSION_MONITOR_* for every test.
    os.environ["INFUSION_MONITOR_CONFIG"] = str(config_path)
    try:
        _read_config_as_the_command_line_does(config_path, document)
    finally:
        os.environ.pop("INFUSION_MONITOR_CONFIG", None)


def _read_config_as_the_command_line_does(config_path: Path, document: bytes) -> None:
    config_path.write_bytes(document)
    user, error = attempt(UserConfig.load, expected=ConfigError)
    if error is not None:
        assert str(config_path) in str(error)
        return
    assert user.path == config_path
    db, error = attempt(database_path, None, user, expected=ConfigError)
    if error is not None:
        assert str(config_path) in str(error) and "db" in str(error)
    else:
        assert isinstance(db, Path) and str(db)
    # A profile that cannot be used leaves the built-in one in force, with the reason.
    profile, problem = active_alarm_profile(None)
    assert profile.rules
    if problem is not None:
        assert isinstance(problem, str) and problem
