"""What only Meta has, against the real ``supportbot meta-sim``: the read receipt is best effort
(a failing or hanging one never fails or holds back the reply), Graph error classes drive the
same retry / definitive logic as MSG91's (130429 and 131056 retried, 190 and a synchronous 131047
not), and the provider's health check."""

from __future__ import annotations

from typing import Any

import pytest

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.testing import TENANT, customer_message, make_turn
from supportbot.meta.simulator.process import RunningSimulator as MetaRunning
from supportbot.provider.interface import AttemptOutcome, SendError
from supportbot.provider.meta_provider import MetaProvider
from supportbot.settings import BotSettings
from supportbot.storage.db import Pool

pytestmark = pytest.mark.parametrize("provider", ["meta"])

GREETING = [("text", "Hi Asha!"), ("buttons", "How can we help?")]


async def rows(pool: Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def attempts(pool: Pool) -> list[tuple[int, str, str | None]]:
    found = await rows(
        pool,
        "SELECT seq, outcome, error_code FROM delivery_attempts WHERE tenant_id = $1 ORDER BY id",
        TENANT,
    )
    return [(r["seq"], r["outcome"], r["error_code"]) for r in found]


async def test_a_failing_read_receipt_never_fails_the_reply(
    sim: Any, run_bot: Any, settings: BotSettings
) -> None:
    assert sim.meta is not None
    await sim.meta.fail_next(500, endpoint="read")
    async with run_bot(settings):
        await sim.say("Hello")
        assert await sim.wait_for_replies(2) == GREETING
    assert await sim.receipts() == []  # the one receipt failed; it was not retried


async def test_a_hanging_read_receipt_does_not_hold_the_reply_back(
    sim: Any, run_bot: Any, settings: BotSettings
) -> None:
    assert sim.meta is not None
    await sim.meta.fail_next(hang=20.0, endpoint="read")
    async with run_bot(settings):
        await sim.say("Hello")
        # well before the hang ends: the reply did not wait for the receipt
        assert await sim.wait_for_replies(2, wait=8.0) == GREETING


async def test_throughput_errors_are_retried(
    sim: Any, engine: ConversationEngine, pool: Pool
) -> None:
    assert sim.meta is not None
    await sim.meta.fail_next(code=130429, retry_after=0.0, endpoint="message")
    await engine.handle_turn(make_turn(customer_message("Hello")))
    assert await sim.replies() == GREETING
    assert await attempts(pool) == [
        (0, "rate_limited", "130429"),
        (0, "accepted", None),
        (1, "accepted", None),
    ]


async def test_pair_rate_limit_is_retried(sim: Any, engine: ConversationEngine, pool: Pool) -> None:
    assert sim.meta is not None
    await sim.meta.fail_next(code=131056, retry_after=0.0, endpoint="message")
    await engine.handle_turn(make_turn(customer_message("Hello")))
    assert await sim.replies() == GREETING
    assert (await attempts(pool))[0] == (0, "rate_limited", "131056")


async def test_expired_token_is_definitive(
    sim: Any, engine: ConversationEngine, pool: Pool, settings: BotSettings
) -> None:
    assert sim.meta is not None and settings.meta_access_token is not None
    await sim.meta.expire_token(settings.meta_access_token.get_secret_value())
    await engine.handle_turn(make_turn(customer_message("Hello")))
    assert await sim.replies() == []
    assert await attempts(pool) == [(0, "auth_error", "190"), (1, "auth_error", "190")]
    states = await rows(
        pool,
        "SELECT delivery_state, delivery_error_code FROM messages"
        " WHERE tenant_id = $1 AND direction = 'outbound' ORDER BY seq",
        TENANT,
    )
    assert states == [{"delivery_state": "failed", "delivery_error_code": "190"}] * 2


async def test_a_synchronous_window_refusal_is_undeliverable_not_retried(
    sim: Any, engine: ConversationEngine, pool: Pool
) -> None:
    assert sim.meta is not None
    await sim.meta.configure(window="sync")
    # our clock says the window is open; Meta's says it is not (it never saw this customer)
    await engine.handle_turn(make_turn(customer_message("Hello")))
    assert await sim.replies() == []
    assert [a[1:] for a in await attempts(pool)] == [("rejected", "131047")] * 2


async def test_health_check(settings: BotSettings, meta_server: MetaRunning) -> None:
    provider = MetaProvider.from_settings(settings)
    try:
        await provider.health_check()
    finally:
        await provider.aclose()
    wrong = settings.model_copy(update={"meta_phone_number_id": "999"})
    broken = MetaProvider.from_settings(wrong)
    try:
        with pytest.raises(SendError) as caught:
            await broken.health_check()
        assert caught.value.outcome is AttemptOutcome.REJECTED
    finally:
        await broken.aclose()


async def test_the_simulators_handshake_and_signatures_against_the_bot(
    sim: Any, run_bot: Any, settings: BotSettings, pool: Pool, until: Any
) -> None:
    """Meta's side of the webhook contract, played by the simulator against the real bot."""
    assert sim.meta is not None
    async with run_bot(settings) as bot_url:
        url = bot_url + "/webhooks/meta"
        good = await sim.meta.verify_webhook(url=url, challenge="8731")
        assert (good["ok"], good["status"], good["body"]) == (True, 200, "8731")
        bad = await sim.meta.verify_webhook(url=url, verify_token="guess", challenge="8731")
        assert (bad["ok"], bad["status"]) == (False, 403)

        for signature in ("wrong", "none"):
            sent = await sim.meta.send_inbound("16505550000", "forged", signature=signature)
            assert [d["http_status"] for d in sent["deliveries"]] == [401]
        signed = await sim.meta.send_inbound("16505550000", "genuine")
        assert [d["http_status"] for d in signed["deliveries"]] == [200]

        async def turn_done() -> bool:
            return bool(await rows(pool, "SELECT 1 FROM turns WHERE tenant_id = $1", TENANT))

        await until(turn_done, "the genuine message's turn")
    stored = await rows(
        pool, "SELECT text FROM messages WHERE tenant_id = $1 AND direction = 'inbound'", TENANT
    )
    assert [r["text"] for r in stored] == ["genuine"]
