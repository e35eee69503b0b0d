# Shortcuts for the two README commands (which need only Python): see tasks.py.
PYTHON ?= python3

.PHONY: run test lint clean

run:
	$(PYTHON) tasks.py run $(ARGS)

test:
	$(PYTHON) tasks.py test $(PYTEST_ARGS)

lint:
	$(PYTHON) tasks.py test --co -q >/dev/null
	.venv/bin/ruff check monitor drivers ui tests
	.venv/bin/mypy

clean:
	rm -rf .venv build *.egg-info
