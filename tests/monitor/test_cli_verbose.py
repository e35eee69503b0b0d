"""README, "Logs": warnings and errors go to standard error, and `--verbose` adds the informational ones. The
window is the default command, so `infusion-monitor --verbose` is the window with them, and the option works
where a user types it: after the command too."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor import cli


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The command each run reaches (without doing it), and the root log level it set."""
    seen: list[str] = []

    def fake(name: str) -> Callable[[object, object], int]:
        def run(args: object, out: object) -> int:
            seen.append(f"{name} verbose={logging.getLogger().level == logging.INFO}")
            return 0
        return run

    monkeypatch.setattr(cli, "COMMANDS", {name: fake(name) for name in cli.COMMANDS})
    monkeypatch.setattr(cli, "_ask_identifiers", lambda args: None)
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: logging.getLogger().setLevel(kw["level"]))
    return seen


@pytest.mark.parametrize(("argv", "expected"), [
    (["--verbose"], "gui verbose=True"),
    (["-v", "--db", "X"], "gui verbose=True"),
    (["record", "--duration", "1", "--verbose"], "record verbose=True"),
    (["--verbose", "record", "--duration", "1"], "record verbose=True"),
    (["users", "list", "-v"], "users verbose=True"),
    (["record", "--duration", "1"], "record verbose=False"),
])
def test_verbose_is_taken_where_a_user_types_it(ran: list[str], argv: list[str], expected: str,
                                                 tmp_path: Path) -> None:
    argv = [str(tmp_path / "m.db") if a == "X" else a for a in argv]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse: "unrecognized arguments: --verbose"
        code = int(exc.code or 0)
    assert code == 0
    assert ran == [expected]
