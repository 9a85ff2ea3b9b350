"""Messages through the real app into the real Ingestor: dedupe, batches, throttling, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import cast

import httpx
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import InboundMessage, MessageKind
from supportbot.queueing.entries import decode_entry
from supportbot.settings import BotSettings
from supportbot.webhook import testing as t
from supportbot.webhook.app import INBOUND_PATH, METRICS_PATH, STATUS_PATH

SettingsFactory = Callable[..., BotSettings]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


async def inbox(aredis: aioredis.Redis, customer_id: str) -> list[InboundMessage]:
    conv = keyspace.conversation_keys(t.TENANT, keyspace.conversation_ref(customer_id))
    return [decode_entry(e) for e in await aredis.lrange(conv.inbox, 0, -1)]


def metric(text: str, name: str) -> float:
    """Value of one sample line `name` (with labels) in Prometheus text output."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics output")


async def test_accepted_message_lands_in_the_inbox(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    body = t.msg91_text("Where is my order #1234?")
    response = await client.post(INBOUND_PATH, content=t.encode(body), headers=t.headers())
    assert response.status_code == 200
    assert response.json() == {
        "status": "accepted",
        "results": [{"id": body["uuid"], "status": "accepted"}],
    }
    [msg] = await inbox(aredis, t.CUSTOMER)
    assert msg.text == "Where is my order #1234?"
    assert msg.kind is MessageKind.TEXT and msg.tenant_id == t.TENANT
    assert msg.message_id == body["uuid"]
    raw = await aredis.xrange(keyspace.raw_stream_key(t.TENANT))
    assert raw is not None
    assert [cast(dict[bytes, bytes], fields)[b"b"] for _, fields in raw] == [t.encode(body)]


async def test_same_message_posted_50_times_is_accepted_once(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    body = t.encode(t.msg91_text("only once"))
    responses = await asyncio.gather(
        *(client.post(INBOUND_PATH, content=body, headers=t.headers()) for _ in range(50))
    )
    assert all(r.status_code == 200 for r in responses)
    statuses = [r.json()["status"] for r in responses]
    assert statuses.count("accepted") == 1
    assert statuses.count("duplicate") == 49
    assert [m.text for m in await inbox(aredis, t.CUSTOMER)] == ["only once"]
    assert await aredis.xlen(keyspace.raw_stream_key(t.TENANT)) == 1
    text = (await client.get(METRICS_PATH)).text
    assert metric(text, 'supportbot_webhook_messages_total{outcome="accepted"}') == 1
    assert metric(text, 'supportbot_webhook_messages_total{outcome="duplicate"}') == 49


async def test_duplicate_via_the_other_route_and_meta_shape(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    """MSG91 flat and a relayed Meta envelope of the same wamid dedupe against each other."""
    wamid = "wamid.SAME"
    flat = t.msg91_text("hello", uuid=wamid)
    meta = t.meta_envelope(
        messages=[t.meta_message("text", {"body": "hello"}, msg_id=wamid, sender=t.CUSTOMER)]
    )
    first = await client.post(INBOUND_PATH, content=t.encode(flat), headers=t.headers())
    second = await client.post(STATUS_PATH, content=t.encode(meta), headers=t.headers())
    assert first.json()["status"] == "accepted"
    assert second.status_code == 200 and second.json()["status"] == "duplicate"
    assert len(await inbox(aredis, t.CUSTOMER)) == 1


async def test_meta_batch_accepts_each_message(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    other = "447700900000"
    body = t.meta_envelope(
        messages=[
            t.meta_message("text", {"body": "one"}, msg_id="wamid.1", sender=t.CUSTOMER),
            t.meta_message("text", {"body": "two"}, msg_id="wamid.2", sender=t.CUSTOMER),
            t.meta_message("text", {"body": "hey"}, msg_id="wamid.3", sender=other),
        ],
        statuses=[t.meta_status("delivered", msg_id="wamid.OUT")],
    )
    response = await client.post(INBOUND_PATH, content=t.encode(body), headers=t.headers())
    assert response.status_code == 200
    assert response.json() == {
        "status": "accepted",
        "results": [
            {"id": "wamid.1", "status": "accepted"},
            {"id": "wamid.2", "status": "accepted"},
            {"id": "wamid.3", "status": "accepted"},
            {"id": "wamid.OUT", "status": "accepted"},
        ],
    }
    assert [m.text for m in await inbox(aredis, t.CUSTOMER)] == ["one", "two"]
    assert [m.text for m in await inbox(aredis, other)] == ["hey"]
    assert await aredis.xlen(f"sb:{t.TENANT}:dlr") == 1
    again = await client.post(INBOUND_PATH, content=t.encode(body), headers=t.headers())
    assert again.json()["status"] == "duplicate"


async def test_partially_bad_meta_batch_keeps_the_good_messages(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    body = t.meta_envelope(
        messages=[
            t.meta_message("text", {"body": "good"}, msg_id="wamid.g", sender=t.CUSTOMER),
            t.meta_message("text", {"body": "nobody"}, msg_id="wamid.b", sender=None),
        ],
        contacts=[],
    )
    response = await client.post(INBOUND_PATH, content=t.encode(body), headers=t.headers())
    assert response.status_code == 200
    assert response.json() == {
        "status": "mixed",
        "results": [
            {"id": "wamid.g", "status": "accepted"},
            {"status": "rejected", "reason": "missing_sender"},
        ],
    }
    assert [m.text for m in await inbox(aredis, t.CUSTOMER)] == ["good"]
    text = (await client.get(METRICS_PATH)).text
    assert metric(text, 'supportbot_webhook_parse_errors_total{reason="missing_sender"}') == 1


async def test_throttled_messages_answer_200_and_are_flagged(
    make_settings: SettingsFactory, make_client: ClientFactory, aredis: aioredis.Redis
) -> None:
    client = await make_client(make_settings(throttle_per_minute=2), clock=lambda: 1_800_000_000.0)
    statuses = []
    for n in range(4):
        body = t.msg91_text(f"msg {n}", uuid=f"wamid.T{n}")
        response = await client.post(INBOUND_PATH, content=t.encode(body), headers=t.headers())
        assert response.status_code == 200
        statuses.append(response.json()["status"])
    assert statuses == ["accepted", "accepted", "throttled", "throttled"]
    messages = await inbox(aredis, t.CUSTOMER)
    assert [(m.throttled, m.throttle_notice) for m in messages] == [
        (False, False),
        (False, False),
        (True, True),
        (True, False),
    ]
    text = (await client.get(METRICS_PATH)).text
    assert metric(text, 'supportbot_webhook_messages_total{outcome="throttled_notify"}') == 1
    assert metric(text, 'supportbot_webhook_messages_total{outcome="throttled"}') == 1


async def test_bsuid_user_gets_its_own_conversation(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    body = t.msg91_text("hi", customer="{{customerNumber}}", bsuid="US.13491208655302741918")
    response = await client.post(INBOUND_PATH, content=t.encode(body), headers=t.headers())
    assert response.json()["status"] == "accepted"
    [msg] = await inbox(aredis, "US.13491208655302741918")
    assert msg.phone is None and msg.bsuid == "US.13491208655302741918"


async def test_request_and_latency_metrics(client: httpx.AsyncClient) -> None:
    await client.post(INBOUND_PATH, content=t.encode(t.msg91_text()), headers=t.headers())
    await client.post(INBOUND_PATH, content=b"{}", headers={"Content-Type": "application/json"})
    await client.post("/random/path/919876543210", content=b"{}")
    text = (await client.get(METRICS_PATH)).text
    route = f'route="{INBOUND_PATH}"'
    assert metric(text, f'supportbot_webhook_requests_total{{code="200",{route}}}') == 1
    assert metric(text, f'supportbot_webhook_requests_total{{code="401",{route}}}') == 1
    assert metric(text, 'supportbot_webhook_requests_total{code="404",route="other"}') == 1
    assert metric(text, f"supportbot_webhook_ack_latency_seconds_count{{{route}}}") == 2
    assert metric(text, 'supportbot_webhook_rejections_total{code="missing_secret"}') == 1
    assert "919876543210" not in text
    assert "# TYPE supportbot_handoffs_total counter" in text, (
        "agent API handoffs (default registry)"
    )
    assert "# TYPE supportbot_agent_replies_total counter" in text


async def test_request_id_is_kept_with_the_message_or_made_up(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    given = t.msg91_text("first", uuid="wamid.rid-given")
    response = await client.post(
        INBOUND_PATH, content=t.encode(given), headers=t.headers() | {"X-Request-ID": "abc-123"}
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == "abc-123"
    unsafe = t.msg91_text("second", uuid="wamid.rid-unsafe")
    response = await client.post(
        INBOUND_PATH, content=t.encode(unsafe), headers=t.headers() | {"X-Request-ID": "a b\\x"}
    )
    made_up = response.headers["x-request-id"]
    assert response.status_code == 200 and made_up != "a b\\x"
    assert [m.request_id for m in await inbox(aredis, t.CUSTOMER)] == ["abc-123", made_up]
