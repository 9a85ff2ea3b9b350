"""Throw-away databases on a PostgreSQL server, for test isolation."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(server_url: str, prefix: str = "t") -> str:
    """Create a fresh, uniquely named database; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE template0'))
    return with_database(server_url, name)


def drop_database(server_url: str, database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
