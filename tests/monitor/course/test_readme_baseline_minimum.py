"""The README's baseline minimum for IV ketamine is the one the shipped protocol enforces.

README ("A nurse's workflow", 5): "Before the baseline's minimum (the protocol's, 5 min for IV ketamine) ... it lists
what is missing and asks for the reason to go ahead anyway". The shipped ketamine-iv protocol sets `min_min = 3`
(and the README's phase table says "at least 3 min"): an infusion 4 minutes into the baseline starts with no reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from monitor.alarms.profile import default_profile
from monitor.protocols import load_protocol

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_states_the_enforced_baseline_minimum() -> None:
    stated = re.search(r"the protocol's, (\d+(?:\.\d+)?) min for IV ketamine", README.read_text(encoding="utf-8"))
    assert stated is not None
    enforced = load_protocol("ketamine-iv").care_rules(default_profile().care).baseline_min_s / 60
    assert float(stated.group(1)) == enforced, f"README says {stated.group(1)} min, the protocol enforces {enforced:g}"
