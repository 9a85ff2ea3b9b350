"""Storage fixtures: a migrated database and a pool on it (real PostgreSQL, fresh per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from supportbot.storage import migrations
from supportbot.storage.db import Pool, create_pool


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    await migrations.migrate(database_url)
    return database_url


@pytest.fixture
async def pool(migrated_url: str) -> AsyncIterator[Pool]:
    p = await create_pool(migrated_url, min_size=1, max_size=5)
    try:
        yield p
    finally:
        await p.close()
