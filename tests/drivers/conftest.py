"""Fixtures for driver tests: pseudo-terminals, null-modem cables, the shared protocol vectors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.drivers.ptys import NullModem, PtyEnd
from tests.drivers.vectors import VECTORS, raw_vectors


@pytest.fixture
def pty_end() -> Iterator[PtyEnd]:
    """A pseudo-terminal whose slave path a link can open."""
    end = PtyEnd()
    yield end
    end.close()


@pytest.fixture
def null_modem(tmp_path: Path) -> Iterator[NullModem]:
    """A virtual null-modem cable between an emulated device and the recorder."""
    cable = NullModem(tmp_path)
    yield cable
    cable.close()


@pytest.fixture(scope="session")
def vectors() -> Callable[[str], dict[str, str]]:
    """Loader of the shared public vectors: ``vectors("nonin_vectors.txt")``."""
    if not VECTORS.is_dir():
        pytest.fail(f"shared protocol vectors not found at {VECTORS}")
    return raw_vectors
