"""The name the audit log gives anyone at the locked screen is nobody's account name."""

from __future__ import annotations

import pytest

from monitor.accounts import AuthError, check_name


@pytest.mark.parametrize("name", ["anyone at the locked screen", "Anyone at the locked screen "])
def test_the_locked_screen_name_is_reserved(name: str) -> None:
    with pytest.raises(AuthError, match="reserved"):
        check_name(name)
