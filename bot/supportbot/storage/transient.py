"""Which storage errors are outages (retry the turn later) and which are not.

Follows the asyncpg / SQLSTATE split in the reliability reference: connection failures (08xxx),
server shutdown and start-up (57P01-57P03), a demoted primary (25006), serialization failures and
deadlocks (40001, 40P01), too many connections (53300), a closed connection, and a session
update that kept losing races are transient (OS-level connect errors and time-outs are the
caller's to judge: they are not storage-specific); data errors (22xxx: U+0000, bad
encodings), undefined objects or syntax (42xxx) and everything else are not: retrying them
cannot help.
"""

from __future__ import annotations

import asyncpg

from supportbot.storage.errors import SessionConflictError

TRANSIENT_SQLSTATES = frozenset({"25006", "40001", "40P01", "53300", "57P01", "57P02", "57P03"})
"""SQLSTATEs outside class 08 that a later retry can succeed on."""


def is_transient_storage_error(exc: BaseException) -> bool:
    """True when `exc` (from asyncpg, the pool, or the session store) means "try again later"."""
    if isinstance(exc, SessionConflictError):
        return True
    if isinstance(exc, asyncpg.PostgresConnectionError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        return state.startswith("08") or state in TRANSIENT_SQLSTATES
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed" / "pool is closing": the server went away under us; other
        # interface errors ("another operation is in progress") are bugs, not outages.
        text = str(exc).lower()
        return "closed" in text or "closing" in text
    return False
