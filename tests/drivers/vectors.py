"""Loading the shared public test vectors (``../shared/protocols``) by name."""

from __future__ import annotations

from pathlib import Path

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "protocols"


def raw_vectors(filename: str) -> dict[str, str]:
    """``name<TAB>value`` lines of a vector file (comments and blank lines skipped)."""
    found: dict[str, str] = {}
    for line in (VECTORS / filename).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, value = line.partition("\t")
        assert sep, f"{filename}: line without a tab: {line!r}"
        found[name.strip()] = value.strip()
    return found


def hex_vector(filename: str, name: str) -> bytes:
    """One vector given as hex bytes."""
    return bytes.fromhex(raw_vectors(filename)[name])


def text_vectors(filename: str) -> dict[str, str]:
    """``name<TAB>"text"`` vectors with Python-style escapes (such as \\r) decoded."""
    return {
        name: value[1:-1].encode("ascii").decode("unicode_escape")
        for name, value in raw_vectors(filename).items()
        if value.startswith('"') and value.endswith('"')
    }
