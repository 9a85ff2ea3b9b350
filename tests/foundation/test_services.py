"""The real Redis and PostgreSQL fixtures work and isolate tests from each other."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis


async def test_redis_round_trip(aredis: aioredis.Redis) -> None:
    assert await aredis.dbsize() == 0, "each test starts with an empty keyspace"
    await aredis.set("k", "v", ex=60)
    assert await aredis.get("k") == b"v"
    info = await aredis.info("server")
    assert str(info["redis_version"]).split(".")[0] >= "6"


async def test_redis_isolated_from_previous_test(aredis: aioredis.Redis) -> None:
    assert await aredis.get("k") is None


async def test_postgres_round_trip(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE t (id int primary key, body text)")
        await conn.execute("INSERT INTO t VALUES ($1, $2)", 1, "hello")
        assert await conn.fetchval("SELECT body FROM t WHERE id = $1", 1) == "hello"
        assert await conn.fetchval("SHOW server_version_num") >= "140000"
    finally:
        await conn.close()


async def test_postgres_database_is_fresh(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert tables == []
    finally:
        await conn.close()
