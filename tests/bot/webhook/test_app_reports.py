"""Delivery reports: one `sb:{t}:dlr` entry per unique (message, state), raw body archived."""

from __future__ import annotations

import asyncio
from typing import cast

import httpx
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import DeliveryReport, DeliveryState
from supportbot.webhook import testing as t
from supportbot.webhook.app import INBOUND_PATH, STATUS_PATH

DLR = keyspace.dlr_stream_key(t.TENANT)
RAW = keyspace.raw_stream_key(t.TENANT)


async def entries(aredis: aioredis.Redis, key: str) -> list[dict[bytes, bytes]]:
    found = await aredis.xrange(key)
    assert found is not None
    return [cast(dict[bytes, bytes], fields) for _, fields in found]


async def reports(aredis: aioredis.Redis) -> list[DeliveryReport]:
    return [DeliveryReport.from_json(fields[b"r"]) for fields in await entries(aredis, DLR)]


async def test_report_is_published_and_archived(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    body = t.encode(t.msg91_status("delivered", request_id="req-1"))
    response = await client.post(STATUS_PATH, content=body, headers=t.headers())
    assert response.status_code == 200
    assert response.json() == {
        "status": "accepted",
        "results": [{"id": "req-1", "status": "accepted"}],
    }
    [report] = await reports(aredis)
    assert report.provider_message_id == "req-1"
    assert report.state is DeliveryState.DELIVERED
    assert report.tenant_id == t.TENANT
    [raw] = await entries(aredis, RAW)
    assert raw[b"b"] == body
    assert raw[b"k"] == b"status"
    assert raw[b"id"] == b"req-1:delivered"
    assert float(raw[b"t"]) == report.received_at
    ttl = await aredis.ttl(f"sb:{t.TENANT}:dlrseen:req-1:delivered")
    assert 0 < ttl <= 86_400


async def test_one_entry_per_unique_report(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    posts = []
    for request_id in ("req-a", "req-b"):
        for state in ("sent", "delivered", "read"):
            body = t.encode(t.msg91_status(state, request_id=request_id))
            posts.extend([body] * 5)  # every report delivered five times
    responses = await asyncio.gather(
        *(client.post(STATUS_PATH, content=b, headers=t.headers()) for b in posts)
    )
    assert all(r.status_code == 200 for r in responses)
    statuses = [r.json()["status"] for r in responses]
    assert statuses.count("accepted") == 6 and statuses.count("duplicate") == 24
    stored = {(r.provider_message_id, r.state.value) for r in await reports(aredis)}
    assert len(await reports(aredis)) == 6
    assert stored == {(i, s) for i in ("req-a", "req-b") for s in ("sent", "delivered", "read")}
    assert await aredis.xlen(RAW) == 6


async def test_status_posted_to_the_inbound_route(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    body = t.encode(t.msg91_status("read"))
    response = await client.post(INBOUND_PATH, content=body, headers=t.headers())
    assert response.json()["status"] == "accepted"
    assert [r.state for r in await reports(aredis)] == [DeliveryState.READ]
    # ...and no inbox was touched.
    assert await aredis.keys(f"sb:{t.TENANT}:c:*") == []


async def test_meta_status_batch_in_one_post(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    body = t.meta_envelope(
        statuses=[
            t.meta_status("sent", msg_id="wamid.X"),
            t.meta_status("delivered", msg_id="wamid.X"),
            t.meta_status("delivered", msg_id="wamid.X"),  # repeated inside the batch
            t.meta_status(
                "failed", msg_id="wamid.Y", errors=[{"code": 131047, "title": "Re-engagement"}]
            ),
        ]
    )
    response = await client.post(STATUS_PATH, content=t.encode(body), headers=t.headers())
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == [
        "accepted",
        "accepted",
        "duplicate",
        "accepted",
    ]
    assert response.json()["status"] == "mixed"
    stored = await reports(aredis)
    assert [(r.provider_message_id, r.state.value) for r in stored] == [
        ("wamid.X", "sent"),
        ("wamid.X", "delivered"),
        ("wamid.Y", "failed"),
    ]
    assert stored[2].error_code == "131047"


async def test_report_store_reloads_a_flushed_script(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    first = t.encode(t.msg91_status("sent", request_id="req-s"))
    assert (await client.post(STATUS_PATH, content=first, headers=t.headers())).status_code == 200
    await aredis.script_flush()
    second = t.encode(t.msg91_status("read", request_id="req-s"))
    response = await client.post(STATUS_PATH, content=second, headers=t.headers())
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert len(await reports(aredis)) == 2
