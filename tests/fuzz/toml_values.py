"""Hypothesis strategies for TOML documents: well-formed ones with odd values, and raw bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

KEY_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


def _string(text: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes, except \\u for surrogates (excluded above).
    return json.dumps(text, ensure_ascii=True)


SCALARS = st.one_of(
    st.text(max_size=20).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)).map(_string),
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: "nan" if f != f else repr(f).replace("inf", "inf")),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.sampled_from(['"~/x.db"', '""', '"/"', '"."', "1979-05-27T07:32:00Z", "07:32:00", '"\\u0000"', '"a\\u0000b"',
                     '"~nobody-here/x"', "'C:\\temp\\x.db'", '"\\n"']),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
                      | st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), inner, max_size=3).map(
                          lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"), max_leaves=6)


def assignments(keys: Any) -> st.SearchStrategy[str]:
    """Lines ``key = value`` with keys from ``keys`` and any TOML value."""
    return st.lists(st.builds(lambda k, v: f"{k} = {v}", keys, VALUES), max_size=6).map("\n".join)


def raw_documents() -> st.SearchStrategy[bytes]:
    """Bytes that may not even be UTF-8."""
    return st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda s: s.encode("utf-8", "replace")))
