"""How long a chair or the nurse station lets the server keep one statement waiting, and what to say when it did.

PostgreSQL lets a statement wait for a lock for ever by default. A chair's login may hold its own rows locked
from another connection (an open transaction), and every login that may change a table may lock it whole; the
chair's replicator or the station's read then waited without a word while the station showed made-up or no
values. Each connection therefore sets ``lock_timeout`` and ``statement_timeout``: a blocked statement fails
within seconds (:func:`monitor.replication.schema.bound_waits`, with the times here), and the chair's server
line or the station's banner says the server kept it waiting.
"""

from __future__ import annotations

from psycopg import errors

#: A chair's statements: a lock awaited longer than this fails (its row held by another connection).
CHAIR_LOCK_WAIT_S = 2.0
#: A chair's single statement (one row of a batch, its live status) that runs longer than this fails.
CHAIR_STATEMENT_S = 5.0
#: The station's reads of the chairs' rows: a lock awaited longer than this fails.
STATION_LOCK_WAIT_S = 2.0
#: The station's read of the chairs' rows (a few rows by key) that runs longer than this fails.
STATION_STATEMENT_S = 3.0


def kept_waiting(exc: BaseException) -> bool:
    """Whether ``exc`` is the server giving up on a statement at the time ``bound_waits`` (schema) set."""
    return isinstance(exc, (errors.LockNotAvailable, errors.QueryCanceled))


def kept_waiting_text(exc: BaseException, *, what: str, lock_s: float, statement_s: float) -> str:
    """What to say of a statement the server gave up on: ``what`` waited, for a lock or to finish."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, errors.LockNotAvailable):
        return (f"the server kept {what} waiting over {lock_s:.0f} s for rows another connection holds locked "
                f"(a login's open transaction, or a whole table locked): {reason}")
    return f"the server did not finish {what} within {statement_s:.0f} s (overloaded, or a table locked): {reason}"
