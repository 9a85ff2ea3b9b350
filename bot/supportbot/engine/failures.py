"""Which turn failures are outages of a dependency (defer the turn) rather than failed attempts.

Pure classification, the engine's side of the `TurnDeferred` seam: PostgreSQL errors a retry can
fix (`storage.transient`), Redis connection/time-out/loading/read-only errors, MSG91 sends whose
retries ran out on 5xx, time-outs or 429s (`DeliveryDeferred`) or that waited too long for the
shared rate limit, and OS-level network errors. Everything else (a bug, a data error such as
U+0000 reaching PostgreSQL) is a failed attempt: bounded retries, then a dead letter.
"""

from __future__ import annotations

from supportbot.messages import TurnDeferred
from supportbot.observability import scrub
from supportbot.provider.ratelimit import RateLimitTimeout
from supportbot.provider.sending import DeliveryDeferred
from supportbot.queueing.transient import REDIS_TRANSIENT
from supportbot.storage.transient import is_transient_storage_error


def dependency_of(exc: BaseException) -> str | None:
    """The unavailable dependency `exc` reports ("postgresql", "redis", "msg91", "network"),
    or None when the failure is not an outage."""
    if isinstance(exc, TurnDeferred):
        return exc.dependency
    if isinstance(exc, REDIS_TRANSIENT):
        return "redis"
    if isinstance(exc, DeliveryDeferred | RateLimitTimeout):
        return "msg91"
    if is_transient_storage_error(exc):
        return "postgresql"
    if isinstance(exc, OSError | TimeoutError):
        return "network"
    return None


def deferral(exc: BaseException) -> TurnDeferred | None:
    """`exc` as a `TurnDeferred` (detail scrubbed of phone numbers), or None."""
    if isinstance(exc, TurnDeferred):
        return exc
    dependency = dependency_of(exc)
    if dependency is None:
        return None
    return TurnDeferred(dependency, scrub(f"{type(exc).__name__}: {exc}")[:300])
