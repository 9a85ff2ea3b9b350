"""The asyncpg pool, sized as the seed design says, and small conversions shared by the queries.

Pool limits (seed: max 20, min 5, close after 10 s idle, wait at most 60 s for a connection) come
from `BotSettings.database_pool_max/min`; the idle and acquire limits are constants here. Every
connection decodes/encodes ``jsonb`` as Python objects. Repository functions take the pool
explicitly and borrow a connection with :func:`connection`, which applies the acquire timeout.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from supportbot.settings import BotSettings

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

POOL_MAX_SIZE = 20
POOL_MIN_SIZE = 5
POOL_IDLE_SECONDS = 10.0
ACQUIRE_TIMEOUT_SECONDS = 60.0


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename,
            encoder=lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")),
            decoder=json.loads,
            schema="pg_catalog",
        )


async def create_pool(
    database_url: str,
    *,
    min_size: int = POOL_MIN_SIZE,
    max_size: int = POOL_MAX_SIZE,
    idle_seconds: float = POOL_IDLE_SECONDS,
) -> Pool:
    """Open a pool; the caller closes it (``await pool.close()``)."""
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min(min_size, max_size),
        max_size=max_size,
        max_inactive_connection_lifetime=idle_seconds,
        init=_init_connection,
    )
    return pool


async def create_pool_from_settings(settings: BotSettings) -> Pool:
    return await create_pool(
        settings.database_url,
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
    )


@asynccontextmanager
async def connection(
    pool: Pool, wait_seconds: float = ACQUIRE_TIMEOUT_SECONDS
) -> AsyncIterator[Connection]:
    """Borrow a connection, waiting at most `wait_seconds` (asyncio.TimeoutError after)."""
    async with pool.acquire(timeout=wait_seconds) as conn:
        yield conn


def to_datetime(at: float | datetime | None) -> datetime:
    """Epoch seconds or an aware datetime -> aware UTC datetime; None -> now."""
    if at is None:
        return datetime.now(UTC)
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime or epoch seconds")
        return at.astimezone(UTC)
    return datetime.fromtimestamp(at, UTC)


def maybe_datetime(at: float | datetime | None) -> datetime | None:
    return None if at is None else to_datetime(at)


def jsonable(value: Any) -> Any:
    """Tuples -> lists, recursively (dataclass asdict keeps tuples; JSON wants arrays)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
