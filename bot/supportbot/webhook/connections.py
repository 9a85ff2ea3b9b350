"""Limits on the webhook's client connections, and the bookkeeping that enforces them.

uvicorn alone lets idle and slowloris connections starve the webhook (reliability reference §7):
``limit_concurrency`` counts open connections, so 300 silent sockets turn every POST into a 503,
and nothing bounds the time to receive a request head (keep-alive is re-armed by every byte).
`supportbot.webhook.protocol` enforces `ConnectionLimits` instead:

- a request head must arrive whole within `header_timeout` of the connection opening (or of the
  first byte of a kept-alive connection's next request), however the bytes trickle in;
- the whole request, body included, within `request_timeout` (else 408);
- only requests being handled count towards the overload cap (503 + Retry-After);
- open connections are capped, and at the cap the ones waiting longest with no request in hand
  (`WaitingConnections`) are closed to admit new ones.

The cap on connections has to fit the process's open-file limit; `raise_nofile_limit` lifts the
soft limit towards the hard one (`plan_nofile` decides) and shrinks the cap if it must.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import resource
from collections.abc import Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds to receive a request head: nginx's CIS-hardened ``client_header_timeout``. Providers
post a small head in one packet, so only abusive or broken clients come near it."""
DEFAULT_REQUEST_TIMEOUT = 20.0
"""Seconds to receive a whole request (bodies are at most 256 KiB by default); above providers'
own time-outs (Twilio's total is 15 s), so a legitimate delivery never meets it."""
DEFAULT_MAX_CONNECTIONS = 10_000
"""Open connections (idle ones included): far above any provider's parallelism; an idle one
costs ~6.7 kB (measured), so 10,000 add ~67 MB to the webhook's ~73 MB, inside its default
256 MiB memory limit; with the reserve below it needs an open-file limit of 12,304."""
FD_RESERVE = 256
"""File descriptors kept free of client connections: Redis/PostgreSQL pools, logs, the listener."""
RETRY_AFTER_SECONDS = 1
"""The overload 503's ``Retry-After``: overload is shed at once, so capacity returns quickly."""
REPORT_INTERVAL_SECONDS = 10.0
"""At most one log line per interval summarises the requests shed and connections cut."""
CAPACITY_INCIDENTS = frozenset({"shed", "evicted"})
"""Incidents that mean the webhook ran out of capacity (logged as a warning)."""


def default_max_requests(redis_max_connections: int) -> int:
    """Requests handled at once before 503: a few per pooled Redis connection.

    Webhook POSTs share one pipelined Redis connection (`queueing.adapters.pipelined`), so the pool
    (readiness checks) does not bound them; this cap keeps latency bounded under overload.
    """
    return max(64, 4 * redis_max_connections)


@dataclasses.dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    """Seconds from a connection's opening (or its next request's first byte) to a whole head."""
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    """Seconds from the same start to the end of the request body; at least `header_timeout`."""
    max_requests: int = default_max_requests(64)
    """Requests in the app at once; beyond it a request is answered 503 without running it."""
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    """Open connections; beyond it the longest-waiting connection without a request is closed."""

    def __post_init__(self) -> None:
        if not 0 < self.header_timeout <= self.request_timeout:
            raise ValueError("need 0 < header_timeout <= request_timeout")
        if self.max_requests < 1 or self.max_connections < 1:
            raise ValueError("max_requests and max_connections must be positive")


@dataclasses.dataclass(frozen=True)
class NofilePlan:
    connections: int
    """The connection cap that fits."""
    soft_limit: int | None
    """The soft RLIMIT_NOFILE to set, or None to leave it as it is."""


def plan_nofile(connections: int, soft: int | None, hard: int | None, reserve: int) -> NofilePlan:
    """Fit `connections` plus `reserve` descriptors under the open-file limits (None: unlimited)."""
    wanted = connections + reserve
    if hard is not None and hard < wanted:
        connections = max(hard // 4, hard - reserve)
        wanted = hard
    raise_to = wanted if soft is not None and soft < wanted else None
    return NofilePlan(connections, raise_to)


def raise_nofile_limit(connections: int, reserve: int) -> int:
    """Lift the soft open-file limit so `connections` fit; returns the cap that does fit."""

    def finite(value: int) -> int | None:
        return None if value == resource.RLIM_INFINITY else value

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    plan = plan_nofile(connections, finite(soft), finite(hard), reserve)
    if plan.soft_limit is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (plan.soft_limit, hard))
    if plan.connections < connections:
        log.warning(
            "connection cap lowered to fit the open-file limit",
            extra={"requested": connections, "connections": plan.connections, "nofile": hard},
        )
    return plan.connections


T = TypeVar("T", bound=Hashable)


class WaitingConnections(Generic[T]):
    """Connections with no request in the app, oldest wait first (an insertion-ordered set)."""

    def __init__(self) -> None:
        self._order: dict[T, None] = {}

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, conn: object) -> bool:
        return conn in self._order

    def add(self, conn: T) -> None:
        """`conn` starts waiting now (moved behind every other)."""
        self._order.pop(conn, None)
        self._order[conn] = None

    def discard(self, conn: T) -> None:
        self._order.pop(conn, None)

    def pop_oldest(self) -> T | None:
        """The connection waiting longest, removed; None when none waits."""
        for conn in self._order:
            del self._order[conn]
            return conn
        return None


class IncidentLog:
    """Counts requests shed and connections evicted or timed out; logs a summary at most once an
    interval (with the incident that ends it): a warning when capacity ran out (shed, evicted),
    else info, since load balancers' pre-opened connections time out idle in normal operation."""

    def __init__(self, interval: float = REPORT_INTERVAL_SECONDS) -> None:
        self._interval = interval
        self._counts: collections.Counter[str] = collections.Counter()
        self._next_report: float | None = None

    def record(self, incident: str, now: float) -> None:
        self._counts[incident] += 1
        if self._next_report is None or now >= self._next_report:
            level = logging.WARNING if CAPACITY_INCIDENTS & self._counts.keys() else logging.INFO
            log.log(level, "connections cut", extra=dict(self._counts))
            self._counts.clear()
            self._next_report = now + self._interval
