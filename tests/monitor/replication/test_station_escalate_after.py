"""--escalate-after is a number of seconds: an alarm not acknowledged at the chair that long is escalated."""

from __future__ import annotations

import pytest

from monitor.cli import build_parser


@pytest.mark.parametrize("text", ["nan", "inf", "-5", "0"])
def test_an_escalation_time_that_is_not_a_positive_number_is_refused(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # nan: "age >= nan" never holds, so an alarm nobody acknowledges would never be escalated at the station.
    with pytest.raises(SystemExit):
        build_parser().parse_args(["station", "--server", "postgresql://reader@db/im", "--escalate-after", text])
    assert "--escalate-after" in capsys.readouterr().err


def test_an_escalation_time_is_taken() -> None:
    args = build_parser().parse_args(["station", "--server", "postgresql://reader@db/im", "--escalate-after", "90"])
    assert args.escalate_after == 90.0
