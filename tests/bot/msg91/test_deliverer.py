"""A turn's replies: in order, exactly once per turn, 24 h window rules (real Redis + simulator)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from supportbot.messages import OutboundKind, OutboundMessage, ReplyButton
from supportbot.msg91.client import Msg91Client
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator
from supportbot.provider.attempts import ListAttemptRecorder
from supportbot.provider.backoff import RetryPolicy
from supportbot.provider.deliverer import Deliverer, Recipient, ReplyStatus
from supportbot.provider.ratelimit import SendRateLimiter
from supportbot.provider.sending import DeliveryDeferred, Sender
from supportbot.provider.window import OUTSIDE_WINDOW_NO_TEMPLATE, OUTSIDE_WINDOW_TEMPLATE_SENT
from supportbot.settings import load_settings

NUMBER, CUSTOMER, AUTH_KEY = "919000000001", "919876543210", "test-authkey-1"
REPLIES = [
    OutboundMessage(kind=OutboundKind.TEXT, text="first"),
    OutboundMessage(kind=OutboundKind.BUTTONS, text="second", buttons=(ReplyButton("y", "Yes"),)),
    OutboundMessage(kind=OutboundKind.TEXT, text="third"),
]
TEMPLATE = OutboundMessage(
    kind=OutboundKind.TEMPLATE,
    template_name="we_missed_you",
    template_language="en",
    template_params=("Asha",),
)
FRESH = Recipient(CUSTOMER, phone=CUSTOMER, last_inbound_at=time.time() - 60)
STALE = Recipient(CUSTOMER, phone=CUSTOMER, last_inbound_at=time.time() - 25 * 3600)

MakeDeliverer = Callable[..., Deliverer]


@pytest.fixture
def make(client: Msg91Client, aredis: aioredis.Redis) -> MakeDeliverer:
    def build(
        *, fallback: OutboundMessage | None = None, policy: RetryPolicy | None = None
    ) -> Deliverer:
        sender = Sender(
            client,
            limiter=SendRateLimiter(aredis, tenant_id="acme", integrated_number=NUMBER, limit=600),
            recorder=ListAttemptRecorder(),
            policy=policy or RetryPolicy(base_delay=0.01),
        )
        return Deliverer(tenant_id="acme", redis=aredis, sender=sender, fallback_template=fallback)

    return build


def _texts(records: list[dict[str, object]]) -> list[object]:
    out = []
    for r in records:
        body = r["body"]
        assert isinstance(body, dict)
        out.append(body.get("text") or body.get("interactive", {}).get("body", {}).get("text"))
    return out


async def test_replies_are_sent_in_order(make: MakeDeliverer, sim: SimulatorClient) -> None:
    outcomes = await make().send_turn_replies("turn-1", FRESH, REPLIES)
    assert [o.status for o in outcomes] == [ReplyStatus.SENT] * 3
    assert [(o.seq, o.index) for o in outcomes] == [(0, 0), (1, 1), (2, 2)]
    accepted = await sim.accepted(CUSTOMER)
    assert _texts(accepted) == ["first", "second", "third"]
    assert [o.provider_message_id for o in outcomes] == [a["message_ids"][0] for a in accepted]


async def test_a_retried_turn_sends_each_reply_once(
    make: MakeDeliverer, sim: SimulatorClient, aredis: aioredis.Redis
) -> None:
    deliverer = make()
    first = await deliverer.send_turn_replies("turn-2", FRESH, REPLIES)
    dup_before = REGISTRY.get_sample_value("supportbot_deliveries_total", {"outcome": "duplicate"})
    again = await make().send_turn_replies("turn-2", FRESH, REPLIES)  # another worker retries
    assert len(await sim.messages()) == 3
    assert all(o.replayed for o in again) and not any(o.replayed for o in first)
    assert [o.provider_message_id for o in again] == [o.provider_message_id for o in first]
    dup_after = REGISTRY.get_sample_value("supportbot_deliveries_total", {"outcome": "duplicate"})
    assert dup_after == (dup_before or 0) + 3
    assert await aredis.exists(*(f"sb:acme:sent:turn-2:{i}" for i in range(3))) == 3
    assert 0 < await aredis.ttl("sb:acme:sent:turn-2:0") <= 7 * 24 * 3600


async def test_deferred_turn_resumes_where_it_stopped(
    make: MakeDeliverer, sim: SimulatorClient
) -> None:
    deliverer = make(policy=RetryPolicy(max_attempts=2, base_delay=0.01))
    await sim.fail_next(503, count=2, path="session")
    # reply 0 is hit by the outage: the turn is handed back, nothing after it is sent
    with pytest.raises(DeliveryDeferred):
        await deliverer.send_turn_replies("turn-3", FRESH, REPLIES)
    assert await sim.accepted() == []
    outcomes = await deliverer.send_turn_replies("turn-3", FRESH, REPLIES)
    assert [o.replayed for o in outcomes] == [False] * 3
    assert _texts(await sim.accepted()) == ["first", "second", "third"]
    assert len(await sim.messages(outcome="fault")) == 2


async def test_deferral_in_the_middle_keeps_order_and_once(
    make: MakeDeliverer, sim: SimulatorClient
) -> None:
    deliverer = make(policy=RetryPolicy(max_attempts=2, base_delay=0.01))
    first = await deliverer.send_turn_replies("turn-5", FRESH, REPLIES[:1])
    assert first[0].status is ReplyStatus.SENT
    await sim.fail_next(503, count=2)
    with pytest.raises(DeliveryDeferred):
        await deliverer.send_turn_replies("turn-5", FRESH, REPLIES)  # reply 1 fails for now
    outcomes = await deliverer.send_turn_replies("turn-5", FRESH, REPLIES)  # runner retries
    assert [o.replayed for o in outcomes] == [True, False, False]
    assert _texts(await sim.accepted()) == ["first", "second", "third"]


async def test_a_recorded_plan_is_sent_as_planned_even_as_the_window_closes(
    make: MakeDeliverer, sim: SimulatorClient
) -> None:
    deliverer = make(fallback=TEMPLATE)
    plan = deliverer.plan(FRESH, REPLIES[:1])  # in the window: the text (the engine records it)
    deliverer.clock = lambda: time.time() + 25 * 3600  # the window closes before the send
    assert [p.message for p in deliverer.plan(FRESH, REPLIES[:1])] == [TEMPLATE]
    [outcome] = await deliverer.send_turn_replies("turn-p", FRESH, REPLIES[:1], plan=plan)
    assert outcome.status is ReplyStatus.SENT
    assert _texts(await sim.accepted(CUSTOMER)) == ["first"]


async def test_outside_window_sends_the_template_once(
    make: MakeDeliverer, sim: SimulatorClient
) -> None:
    outcomes = await make(fallback=TEMPLATE).send_turn_replies("turn-6", STALE, REPLIES)
    assert [o.status for o in outcomes] == [
        ReplyStatus.TEMPLATE_SENT,
        ReplyStatus.UNDELIVERABLE,
        ReplyStatus.UNDELIVERABLE,
    ]
    assert [o.reason for o in outcomes[1:]] == [OUTSIDE_WINDOW_TEMPLATE_SENT] * 2
    [record] = await sim.messages()
    assert record["endpoint"] == "bulk" and record["outcome"] == "accepted"
    template = record["body"]["payload"]["template"]
    assert template["name"] == "we_missed_you"
    assert template["to_and_components"] == [
        {"to": [CUSTOMER], "components": {"body_1": {"type": "text", "value": "Asha"}}}
    ]
    assert outcomes[0].provider_message_id == record["message_ids"][0]


async def test_outside_window_without_template_is_undeliverable(
    make: MakeDeliverer, sim: SimulatorClient
) -> None:
    never = Recipient(CUSTOMER, phone=CUSTOMER, last_inbound_at=None)
    outcomes = await make().send_turn_replies("turn-7", never, REPLIES)
    assert {(o.status, o.reason) for o in outcomes} == {
        (ReplyStatus.UNDELIVERABLE, OUTSIDE_WINDOW_NO_TEMPLATE)
    }
    assert await sim.messages() == []


async def test_definitive_failures_are_recorded_and_later_replies_still_go(
    make: MakeDeliverer, sim: SimulatorClient
) -> None:
    broken = OutboundMessage(
        kind=OutboundKind.BUTTONS,
        text="too many",
        buttons=tuple(ReplyButton(str(i), f"B{i}") for i in range(4)),
    )
    outcomes = await make().send_turn_replies("turn-8", FRESH, [REPLIES[0], broken, REPLIES[2]])
    assert [o.status for o in outcomes] == [
        ReplyStatus.SENT,
        ReplyStatus.UNDELIVERABLE,
        ReplyStatus.SENT,
    ]
    assert outcomes[1].error_code == "invalid" and "buttons" in (outcomes[1].reason or "")
    assert _texts(await sim.messages()) == ["first", "third"]  # the broken one never left

    bad = Recipient("c2", phone="12", last_inbound_at=time.time())
    [rejected] = await make().send_turn_replies("turn-9", bad, REPLIES[:1])
    assert rejected.status is ReplyStatus.UNDELIVERABLE
    assert rejected.error_code == "INVALID_RECIPIENT"
    assert len(await sim.messages(to="12")) == 1  # no retry of a definitive error


async def test_from_settings_wiring(
    sim_server: RunningSimulator, sim: SimulatorClient, aredis: aioredis.Redis, redis_url: str
) -> None:
    settings = load_settings(
        {
            "SUPPORTBOT_TENANT_ID": "acme",
            "SUPPORTBOT_INTEGRATED_NUMBER": NUMBER,
            "SUPPORTBOT_WEBHOOK_SECRET": "x",
            "SUPPORTBOT_REDIS_URL": redis_url,
            "SUPPORTBOT_DATABASE_URL": "postgresql://localhost/x",
            "SUPPORTBOT_MSG91_BASE_URL": sim_server.url,
            "SUPPORTBOT_MSG91_AUTH_KEY": AUTH_KEY,
            "SUPPORTBOT_OUT_OF_WINDOW_TEMPLATE_NAME": "we_missed_you",
            "SUPPORTBOT_OUT_OF_WINDOW_TEMPLATE_PARAMS": "there",
        }
    )
    recorder = ListAttemptRecorder()
    async with Msg91Client.from_settings(settings) as client:
        deliverer = Deliverer.from_settings(settings, aredis, client, recorder=recorder)
        [fresh] = await deliverer.send_turn_replies("t-a", FRESH, REPLIES[:1])
        [stale] = await deliverer.send_turn_replies("t-b", STALE, REPLIES[:1])
    assert (fresh.status, stale.status) == (ReplyStatus.SENT, ReplyStatus.TEMPLATE_SENT)
    assert [a.turn_id for a in recorder.attempts] == ["t-a", "t-b"]
    assert [r["endpoint"] for r in await sim.accepted()] == ["session", "bulk"]
    assert await aredis.exists("sb:acme:send-rate:919000000001") == 1
