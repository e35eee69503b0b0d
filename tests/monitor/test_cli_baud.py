"""--baud is a serial line speed: a too large one ended in an OverflowError traceback, 0 was dropped in silence."""

from __future__ import annotations

import pytest

from monitor.cli import build_parser


@pytest.mark.parametrize("command", [["record", "--driver", "masimo-ascii"], ["emulate", "--protocol", "masimo-ascii"]])
@pytest.mark.parametrize("text", ["0", "-1", "99999999999999"])
def test_a_baud_rate_out_of_range_is_refused(command: list[str], text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--port", "/dev/ttyUSB0", "--baud", text])
    assert "--baud" in capsys.readouterr().err


def test_a_baud_rate_is_taken() -> None:
    args = build_parser().parse_args(
        ["record", "--driver", "masimo-ascii", "--port", "/dev/ttyUSB0", "--baud", "19200"]
    )
    assert args.baud == 19200
