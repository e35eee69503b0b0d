"""Hypothesis profiles of the fuzz suite.

``python3 tasks.py fuzz`` selects the ``fuzz`` profile (10,000 examples per target, no deadline);
run without it (``pytest tests/fuzz``) the suite is a quick smoke run with hypothesis' defaults.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = 10_000

settings.register_profile(
    "fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
)
