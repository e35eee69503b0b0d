"""Performance benchmarks (``python3 tasks.py bench``); not part of the unit tests."""
