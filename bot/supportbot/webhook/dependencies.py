"""``/healthz/deps``: every dependency's state, for humans and dashboards (never a probe).

Redis, PostgreSQL and Redis persistence come from the readiness probe's (cached) check; the
provider's state (named ``msg91`` or ``meta`` after `settings.provider`) is the last send
outcome the workers recorded in Redis (`provider.health`): one HGETALL, cached like the rest, and
never a request to the provider. The provider is not part of readiness: a webhook acknowledges
messages whatever the provider does.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from supportbot.provider.health import read_health
from supportbot.webhook.readiness import ReadinessProbe


@dataclass(frozen=True, slots=True)
class Dependencies:
    checks: dict[str, str] = field(default_factory=dict)
    """dependency -> "ok ...", "down: ..." or "unknown: ..." (persistence: its description)."""

    @property
    def status(self) -> str:
        """ "degraded" when a dependency is down, else "ok" (unknown is not down)."""
        down = any(state.startswith("down") for state in self.checks.values())
        return "degraded" if down else "ok"

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "checks": self.checks}


class DependencyProbe:
    def __init__(
        self,
        readiness: ReadinessProbe,
        redis: aioredis.Redis,
        tenant_id: str,
        *,
        ttl: float = 2.0,
        timeout: float = 1.5,
        provider: str = "msg91",
    ) -> None:
        self._provider = provider
        self._readiness = readiness
        self._redis = redis
        self._tenant_id = tenant_id
        self._ttl = ttl
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._msg91: tuple[float, str] | None = None

    async def check(self) -> Dependencies:
        ready = await self._readiness.check()
        return Dependencies({**ready.checks, self._provider: await self._msg91_state()})

    async def _msg91_state(self) -> str:
        async with self._lock:
            cached = self._msg91
            if cached is not None and time.monotonic() - cached[0] < self._ttl:
                return cached[1]
            try:
                async with asyncio.timeout(self._timeout):
                    state = (await read_health(self._redis, self._tenant_id)).describe()
            except Exception as exc:  # Redis down: the redis check says so
                state = f"unknown: {type(exc).__name__}"
            self._msg91 = (time.monotonic(), state)
            return state
