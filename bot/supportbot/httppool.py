"""An httpx transport of several small connection pools, for hundreds of concurrent requests.

httpcore's `AsyncConnectionPool` re-scans ALL its connections and queued requests on every
request and every response (`_assign_requests_to_connections`, `has_expired`, `is_idle`): the
cost per request grows with the pool, so ~1,000 concurrent LLM calls in one worker spent ~30 %
of the process in that scan (py-spy, loadtests/README.md). `ShardedTransport` keeps the same
total connection limit but splits it into pools of at most `shard_size` connections and sends
each request to the shard with the fewest requests in flight, so every scan stays short.

Everything above the transport (the client's timeouts, headers, base URL, event hooks) is
httpx's own; each shard is a stock `httpx.AsyncHTTPTransport`. The shards share ONE TLS context:
httpx builds a context (CA bundle loaded, ~1 MB) per transport, which cost ~110 MB of worker RSS
with 126 shards before this was shared.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

DEFAULT_SHARD_SIZE = 32


class _CountedStream(httpx.AsyncByteStream):
    """The response body; the shard's in-flight count drops when it is closed."""

    def __init__(self, inner: httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        self._inner = inner
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._done is not None:
                self._done()
                self._done = None


class ShardedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        max_connections: int,
        *,
        max_keepalive_connections: int | None = None,
        shard_size: int = DEFAULT_SHARD_SIZE,
        **transport_kwargs: Any,
    ) -> None:
        if max_connections < 1 or shard_size < 1:
            raise ValueError("max_connections and shard_size must be >= 1")
        count = math.ceil(max_connections / shard_size)
        per_shard = math.ceil(max_connections / count)
        keepalive = per_shard
        if max_keepalive_connections is not None:
            keepalive = max(1, math.ceil(max_keepalive_connections / count))
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=keepalive)
        verify = transport_kwargs.pop("verify", True)
        if not isinstance(verify, ssl.SSLContext):
            verify = httpx.create_ssl_context(verify=verify)
        self.shards = [
            httpx.AsyncHTTPTransport(limits=limits, verify=verify, **transport_kwargs)
            for _ in range(count)
        ]
        self.in_flight = [0] * count

    def _pick(self) -> int:
        counts = self.in_flight
        return counts.index(min(counts))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._pick()
        self.in_flight[index] += 1

        def done() -> None:
            self.in_flight[index] -= 1

        try:
            response = await self.shards[index].handle_async_request(request)
        except BaseException:
            done()
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _CountedStream(stream, done)
        return response

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.aclose()


def sharded_client(
    max_connections: int,
    *,
    max_keepalive_connections: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    **client_kwargs: Any,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` over a `ShardedTransport` (client kwargs as for httpx)."""
    transport = ShardedTransport(
        max_connections,
        max_keepalive_connections=max_keepalive_connections,
        shard_size=shard_size,
    )
    return httpx.AsyncClient(transport=transport, **client_kwargs)
