"""A number of seconds on the command line is a finite positive number."""

from __future__ import annotations

import pytest

from monitor.cli import build_parser


@pytest.mark.parametrize("option", ["--duration", "--link-lost-after"])
@pytest.mark.parametrize("text", ["nan", "inf", "1e400"])
def test_seconds_that_are_not_finite_are_refused(option: str, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["record", "--driver", "simulated", option, text])
    assert option in capsys.readouterr().err
