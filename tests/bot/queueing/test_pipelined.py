"""PipelinedRedis against a real Redis: reply matching, errors, NOSCRIPT, reconnects, timeouts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis
from redis.exceptions import (
    AuthenticationError,
    ConnectionError as RedisConnectionError,
    ResponseError,
    TimeoutError as RedisTimeoutError,
)

from supportbot.queueing.adapters.pipelined import Endpoint, LuaScript, PipelinedRedis

SCRIPT = LuaScript("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}")


@pytest.fixture
async def mux(redis_url: str) -> AsyncIterator[PipelinedRedis]:
    client = PipelinedRedis.from_url(redis_url, reply_timeout=5.0)
    yield client
    await client.aclose()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_concurrent_callers_each_get_their_own_reply(mux: PipelinedRedis) -> None:
    replies = await asyncio.gather(*(mux.execute("ECHO", f"v{i}") for i in range(500)))
    assert replies == [f"v{i}".encode() for i in range(500)]


async def test_commands_reach_the_url_database(mux: PipelinedRedis, aredis: aioredis.Redis) -> None:
    assert await mux.execute("SET", "k", b"\x00bin\xff") == b"OK"
    assert await aredis.get("k") == b"\x00bin\xff"


async def test_error_reply_raises_and_the_connection_goes_on(mux: PipelinedRedis) -> None:
    await mux.execute("SET", "s", "x")
    results = await asyncio.gather(
        mux.execute("ECHO", "before"),
        mux.execute("LPUSH", "s", "y"),  # WRONGTYPE
        mux.execute("ECHO", "after"),
        return_exceptions=True,
    )
    assert results[0] == b"before" and results[2] == b"after"
    assert isinstance(results[1], ResponseError) and "WRONGTYPE" in str(results[1])


async def test_evalsha_loads_the_script_after_a_flush(
    mux: PipelinedRedis, aredis: aioredis.Redis
) -> None:
    assert await mux.evalsha(SCRIPT, ["n"], ["a"]) == [b"n", b"a", 1]
    await aredis.script_flush()
    assert await mux.evalsha(SCRIPT, ["n"], ["b"]) == [b"n", b"b", 2]
    await aredis.script_flush()
    batch = await mux.evalsha_many(SCRIPT, [(["m"], ["x"]), (["m"], ["y"])])
    assert batch == [[b"m", b"x", 1], [b"m", b"y", 2]]


async def test_refused_connection_is_a_redis_connection_error() -> None:
    client = PipelinedRedis.from_url(f"redis://127.0.0.1:{closed_port()}/0")
    with pytest.raises(RedisConnectionError):
        await client.execute("PING")
    await client.aclose()


async def test_reconnects_after_the_server_drops_it(
    mux: PipelinedRedis, aredis: aioredis.Redis
) -> None:
    client_id = await mux.execute("CLIENT", "ID")
    await aredis.client_kill_filter(_id=client_id)
    await asyncio.sleep(0.05)
    assert await mux.execute("ECHO", "again") == b"again"
    assert await mux.execute("CLIENT", "ID") != client_id


async def test_no_reply_in_time_fails_every_waiter_then_recovers(redis_url: str) -> None:
    client = PipelinedRedis.from_url(redis_url, reply_timeout=0.3)
    try:
        blocked = client.execute("BLPOP", "never", 0)
        behind = client.execute("ECHO", "queued behind it")
        results = await asyncio.gather(blocked, behind, return_exceptions=True)
        assert all(isinstance(r, RedisTimeoutError) for r in results)
        assert await client.execute("ECHO", "fresh") == b"fresh"
    finally:
        await client.aclose()


async def test_a_cancelled_caller_does_not_shift_the_replies(mux: PipelinedRedis) -> None:
    first = asyncio.ensure_future(mux.execute("ECHO", "one"))
    second = asyncio.ensure_future(mux.execute("ECHO", "two"))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == b"two"
    assert await mux.execute("ECHO", "three") == b"three"


async def test_username_and_password_from_the_url(redis_url: str, aredis: aioredis.Redis) -> None:
    await aredis.acl_setuser(
        "sbtest", enabled=True, passwords=["+pw-123"], keys=["*"], commands=["+@all"]
    )
    try:
        parts = urlsplit(redis_url)
        netloc = f"sbtest:pw-123@{parts.hostname}:{parts.port}"
        good = PipelinedRedis.from_url(urlunsplit(parts._replace(netloc=netloc)))
        assert await good.execute("ACL", "WHOAMI") == b"sbtest"
        await good.aclose()
        wrong = f"sbtest:nope@{parts.hostname}:{parts.port}"
        bad = PipelinedRedis.from_url(urlunsplit(parts._replace(netloc=wrong)))
        with pytest.raises(AuthenticationError):
            await bad.execute("PING")
        await bad.aclose()
    finally:
        await aredis.acl_deluser("sbtest")


async def test_closed_client_refuses_commands(redis_url: str) -> None:
    client = PipelinedRedis.from_url(redis_url)
    assert await client.execute("PING") == b"PONG"
    await client.aclose()
    with pytest.raises(RedisConnectionError):
        await client.execute("PING")


def test_endpoint_from_urls() -> None:
    tcp = Endpoint.from_url("redis://u:p@example.invalid:6380/3")
    assert (tcp.host, tcp.port, tcp.db, tcp.username, tcp.password) == (
        "example.invalid",
        6380,
        3,
        "u",
        "p",
    )
    assert tcp.tls is None and tcp.path is None
    assert Endpoint.from_url("rediss://example.invalid:6380/0").tls is not None
    assert Endpoint.from_url("unix:///run/redis.sock?db=2").path == "/run/redis.sock"
