"""Redis sessions: creation, idle TTL refresh, expiry, atomic updates."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from supportbot.keyspace import session_key
from supportbot.queueing.testing import wait_until
from supportbot.storage.errors import SessionConflictError
from supportbot.storage.sessions import Session, SessionStore


async def test_get_creates_a_missing_session_with_the_idle_ttl(aredis: aioredis.Redis) -> None:
    store = SessionStore(aredis, "acme", 3600, clock=lambda: 1000.0)
    assert await store.peek("c1") is None
    first = await store.get("c1")
    assert first.new and first.data == {} and first.created_at == 1000.0
    assert await aredis.exists("sb:acme:session:c1") == 1
    assert 3590 <= await aredis.ttl(session_key("acme", "c1")) <= 3600
    second = await store.get("c1")
    assert not second.new and second.created_at == 1000.0


async def test_activity_refreshes_the_ttl_and_peek_does_not(aredis: aioredis.Redis) -> None:
    store = SessionStore(aredis, "acme", 3600)
    await store.get("c1")
    key = store.key("c1")
    await aredis.expire(key, 10)
    assert await store.peek("c1") is not None
    assert await aredis.ttl(key) <= 10, "peek leaves the TTL alone"
    await store.get("c1")
    assert await aredis.ttl(key) > 3000, "get refreshes"
    await aredis.expire(key, 10)
    await store.update("c1", lambda s: s.data.update(step="menu"))
    assert await aredis.ttl(key) > 3000, "update refreshes"
    await aredis.expire(key, 10)
    assert await store.touch("c1")
    assert await aredis.ttl(key) > 3000, "touch refreshes"
    assert not await store.touch("nobody")
    assert await store.ttl("nobody") == -2


async def test_an_idle_session_expires_and_is_recreated(aredis: aioredis.Redis) -> None:
    store = SessionStore(aredis, "acme", 3600)
    await store.update("c1", lambda s: s.data.update(step="ask_order"))
    await aredis.pexpire(store.key("c1"), 30)

    async def expired() -> bool:
        return not await aredis.exists(store.key("c1"))

    await wait_until(expired, 5, "the session's TTL to run out")
    fresh = await store.get("c1")
    assert fresh.new and fresh.data == {}


async def test_update_is_atomic_under_concurrency(aredis: aioredis.Redis, redis_url: str) -> None:
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(8)]
    try:
        stores = [SessionStore(c, "acme", 3600) for c in clients]

        def bump(session: Session) -> None:
            session.data["n"] = session.data.get("n", 0) + 1

        await asyncio.gather(*(stores[i % 8].update("c1", bump) for i in range(40)))
    finally:
        for c in clients:
            await c.aclose()
    final = await SessionStore(aredis, "acme").peek("c1")
    assert final is not None and final.data["n"] == 40


async def test_save_and_delete_and_tenant_keys(aredis: aioredis.Redis) -> None:
    acme = SessionStore(aredis, "acme", 600)
    beta = SessionStore(aredis, "beta", 600)
    session = await acme.get("c1")
    session.data["lang"] = "hi"
    await acme.save(session)
    assert (await beta.get("c1")).data == {}, "tenants have separate sessions"
    again = await acme.peek("c1")
    assert again is not None and again.data == {"lang": "hi"}
    assert await acme.delete("c1")
    assert await acme.peek("c1") is None
    assert sorted(await aredis.keys("sb:*")) == [b"sb:beta:session:c1"]


async def test_endless_conflicts_raise_a_typed_error(
    aredis: aioredis.Redis, redis_url: str
) -> None:
    store = SessionStore(aredis, "acme", 600)
    await store.get("c1")
    other = redis.Redis.from_url(redis_url)

    def always_raced(session: Session) -> None:
        other.set(store.key("c1"), session.to_json())  # another writer wins every round

    try:
        with pytest.raises(SessionConflictError):
            await store.update("c1", always_raced)
    finally:
        other.close()
