"""The fault suite's crash-and-restart helpers on the real servers: Redis (AOF everysec) and
PostgreSQL (durable commits) come back on the same port with what they had acknowledged."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import redis

from supportbot_dev.postgres_server import start_postgres
from supportbot_dev.redis_server import start_redis


def test_redis_keeps_acknowledged_writes_across_sigkill_and_restart() -> None:
    server = start_redis()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.rpush("inbox", *range(500))
        client.close()
        pid = server.proc.pid if server.proc else None
        server.kill()
        assert server.proc is not None and server.proc.returncode == -9
        server.restart()
        assert server.proc.pid != pid
        client = redis.Redis.from_url(server.url)  # same port
        assert client.llen("inbox") == 500
        client.close()
    finally:
        server.stop()


@pytest.mark.slow
def test_postgres_keeps_commits_across_an_immediate_stop_and_restart() -> None:
    server = start_postgres(durable_commits=True)

    async def query(sql: str) -> str:
        conn = await asyncpg.connect(server.url())
        try:
            return str(await conn.execute(sql))
        finally:
            await conn.close()

    try:
        asyncio.run(query("CREATE TABLE turns (id int); INSERT INTO turns VALUES (1), (2)"))
        server.kill()
        with pytest.raises(OSError):
            asyncio.run(query("SELECT 1"))
        server.restart()
        assert asyncio.run(query("SELECT * FROM turns")) == "SELECT 2"
    finally:
        server.stop()
