"""Redis errors that mean "Redis is unavailable right now" (retry later), not a bug.

Connection failures (a restarted Redis that is still loading its AOF raises `BusyLoadingError`,
a `ConnectionError`), time-outs, a replica not promoted yet (`ReadOnlyError`) and cluster
re-sharding (`TryAgainError`, `ClusterDownError`). A `ResponseError` such as WRONGTYPE or a Lua
error is not among them. Used by the worker (jobs popped as Redis failed) and the engine (turns
deferred while Redis is down).
"""

from __future__ import annotations

import redis.exceptions

REDIS_TRANSIENT: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
