"""Readiness: Redis answers PING and PostgreSQL accepts a connection and ``SELECT 1``.

The result is cached for `ttl` seconds and concurrent probes share one check, so frequent
Kubernetes probes (or several replicas' probes) do not hammer the databases. Each check is bounded
by `timeout`. Failure details name only the exception type (messages can contain hosts or DSNs).
PostgreSQL is never touched on the acknowledgement path, only here.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)
    """check name -> "ok" or "down: <ExceptionType>"."""


class ReadinessProbe:
    def __init__(
        self,
        redis: aioredis.Redis,
        database_url: str,
        *,
        ttl: float = 2.0,
        timeout: float = 1.5,
    ) -> None:
        self._redis = redis
        self._database_url = database_url
        self._ttl = ttl
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._cached: Readiness | None = None
        self._checked_at = 0.0

    async def check(self) -> Readiness:
        cached = self._fresh()
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._fresh()
            if cached is not None:
                return cached
            redis_state, pg_state = await asyncio.gather(self._redis_ok(), self._postgres_ok())
            result = Readiness(
                ready=redis_state == "ok" and pg_state == "ok",
                checks={"redis": redis_state, "postgres": pg_state},
            )
            self._cached, self._checked_at = result, time.monotonic()
            return result

    def _fresh(self) -> Readiness | None:
        if time.monotonic() - self._checked_at < self._ttl:
            return self._cached
        return None

    async def _redis_ok(self) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.ping()
        except Exception as exc:  # any failure means "not ready"; the type says which
            return f"down: {type(exc).__name__}"
        return "ok"

    async def _postgres_ok(self) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                conn = await asyncpg.connect(self._database_url, timeout=self._timeout)
                try:
                    await conn.fetchval("SELECT 1")
                finally:
                    await conn.close(timeout=self._timeout)
        except Exception as exc:  # any failure means "not ready"; the type says which
            return f"down: {type(exc).__name__}"
        return "ok"
