"""`ShardedTransport`: the total connection limit holds, load spreads over the shards, and a
shard's in-flight count returns to zero whether a response is read, streamed or fails."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from supportbot.httppool import ShardedTransport, sharded_client


class SlowServer:
    """A keep-alive HTTP/1.1 server that answers after `delay` and counts open connections."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.open = 0
        self.peak_open = 0
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                await asyncio.sleep(self.delay)
                body = b'{"ok":true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


@contextlib.asynccontextmanager
async def serve(delay: float) -> AsyncIterator[tuple[SlowServer, str]]:
    server = SlowServer(delay)
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        srv.close()


async def test_total_limit_holds_and_load_spreads_over_shards() -> None:
    async with serve(0.2) as (server, url):
        transport = ShardedTransport(8, shard_size=2)
        assert len(transport.shards) == 4
        async with httpx.AsyncClient(transport=transport, base_url=url) as client:
            seen: list[list[int]] = []

            async def one() -> int:
                seen.append(list(transport.in_flight))
                return (await client.post("/x", json={"n": 1})).status_code

            codes = await asyncio.gather(*(one() for _ in range(24)))
        assert codes == [200] * 24
        assert server.requests == 24
        assert server.peak_open <= 8  # never more connections than the total limit
        assert server.peak_open >= 4  # and all shards were used
        assert max(max(s) for s in seen) - min(min(s) for s in seen) <= 6
        assert transport.in_flight == [0, 0, 0, 0]


async def test_in_flight_drops_after_streaming_and_after_errors() -> None:
    async with serve(0.0) as (_, url):
        client = sharded_client(4, shard_size=2, base_url=url)
        transport = client._transport
        assert isinstance(transport, ShardedTransport)
        async with client:
            async with client.stream("GET", "/s") as response:
                assert sum(transport.in_flight) == 1
                assert b"".join([c async for c in response.aiter_bytes()]) == b'{"ok":true}'
            assert transport.in_flight == [0, 0]
    dead = ShardedTransport(2)
    async with httpx.AsyncClient(transport=dead, timeout=1) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:1/")
    assert dead.in_flight == [0]


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        ShardedTransport(0)
