"""A protocol's mistakes are named with their line; nothing is silently changed or left unusable."""

from __future__ import annotations

import pytest

from monitor.protocols import ProtocolError, parse_protocol, shipped_text


def _changed(old: str, new: str) -> str:
    text = shipped_text("ketamine-iv")
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("aldrete_min = 9", "aldrete_min = 8.5", "discharge.aldrete_min"),
        ("padss_min = 9", "padss_min = 9.5", "discharge.padss_min"),
        ("planned_sessions = 6", "planned_sessions = 2.5", "course.planned_sessions"),
    ],
)
def test_a_whole_number_field_with_a_fraction_is_refused(old: str, new: str, field: str) -> None:
    # int() made a pass mark of 8.5 (a score of 9) into 8: a patient scoring 8 would pass the discharge score.
    with pytest.raises(ProtocolError, match=rf"line \d+, field {field}"):
        parse_protocol(_changed(old, new), "clinic.toml")


def test_a_score_scale_the_monitor_cannot_record_is_refused() -> None:
    # "MOAAS" is not MOAA/S: the nurse's MOAA/S scores would never count for it, so it stays due for ever.
    with pytest.raises(ProtocolError, match=r"line \d+, field scores.2.scale"):
        parse_protocol(_changed('scale = "MOAA/S"', 'scale = "MOAAS"'), "clinic.toml")
