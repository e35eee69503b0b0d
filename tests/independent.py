"""Running the independent HL7 implementations of tests/node (Medplum's HL7 client and server, on Node)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"


def node_script(name: str) -> list[str]:
    """The command that runs a script of tests/node; skips the calling test, saying why, when it cannot run."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the independent (Medplum) HL7 implementation cannot run")
    if not (NODE_DIR / "node_modules" / "@medplum" / "hl7").is_dir():
        pytest.skip("the npm packages of tests/node are not installed (python3 tasks.py test installs them)")
    return [node, str(NODE_DIR / name)]
