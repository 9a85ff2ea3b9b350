"""The engine's delivery is fenced by the runner's conversation lease (real Redis, PostgreSQL,
simulators): a run whose lease is gone sends nothing and records no error turn; the run that
holds the lease sends the turn's replies once, in order."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import redis.asyncio as aioredis

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.testing import CUSTOMER, TENANT, customer_message, make_turn
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.provider.deliverer import SendFenced
from supportbot.storage.db import Pool

LEASE = f"sb:{TENANT}:c:fence-test:lease"


async def rows(pool: Pool, sql: str) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql)]


async def test_a_turn_whose_lease_moved_on_sends_nothing_then_the_owner_sends_once(
    engine: ConversationEngine, msg91: SimulatorClient, pool: Pool, aredis: aioredis.Redis
) -> None:
    turn = make_turn(customer_message("Hello"), turn_id="turn-fenced")
    await aredis.set(LEASE, "r:new-owner")
    loser = dataclasses.replace(turn, lease_key=LEASE, lease_token="r:old-owner")
    with pytest.raises(SendFenced):
        await engine.handle_turn(loser)
    assert await msg91.accepted(CUSTOMER) == []
    assert await rows(pool, "SELECT outcome FROM turns") == []

    owner = dataclasses.replace(turn, lease_key=LEASE, lease_token="r:new-owner", attempt=2)
    await engine.handle_turn(owner)
    await engine.handle_turn(owner)  # a repeated run replays, it does not resend
    texts = [m["body"].get("text") for m in await msg91.accepted(CUSTOMER)]
    assert texts == ["Hi Asha!", None]  # greeting, then the menu (interactive)
    assert [r["outcome"] for r in await rows(pool, "SELECT outcome FROM turns")] == ["greeting"]
