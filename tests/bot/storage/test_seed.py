"""`supportbot storage seed`: demo data through the repository, idempotent."""

from __future__ import annotations

import asyncio

import pytest

from supportbot.messages import DeliveryState
from supportbot.storage import queries
from supportbot.storage.cli import main
from supportbot.storage.db import create_pool
from supportbot.storage.models import HandoffState


def test_seed_twice_adds_nothing_the_second_time(
    migrated_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["seed", "--database-url", migrated_url, "--tenant", "demo"]
    assert main(args) == 0
    assert "3 conversations, 6 new messages" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 new messages" in capsys.readouterr().out

    async def check() -> None:
        pool = await create_pool(migrated_url, min_size=1, max_size=2)
        try:
            page = await queries.list_conversations(pool, "demo")
            by_id = {c.customer_id: c for c in page.items}
            assert len(by_id) == 3
            assert by_id["919999900002"].handoff_state is HandoffState.HUMAN
            assert by_id["919999900003"].opted_out
            msgs = await queries.get_messages(pool, "demo", "919999900001")
            assert [m.direction.value for m in msgs] == ["inbound", "outbound"]
            assert msgs[1].delivery_state is DeliveryState.DELIVERED
            assert (await queries.list_conversations(pool, "other")).items == []
        finally:
            await pool.close()

    asyncio.run(check())
