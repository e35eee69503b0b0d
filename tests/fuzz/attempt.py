"""Call an importer and tell its two allowed outcomes apart: a result, or the error it promises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def attempt(action: Callable[..., Any], *args: Any, expected: type[Exception] | tuple[type[Exception], ...],
            **kwargs: Any) -> tuple[Any, Exception | None]:
    """``(result, None)`` or ``(None, error)`` for an ``expected`` error; anything else propagates."""
    try:
        return action(*args, **kwargs), None
    except expected as exc:
        return None, exc
