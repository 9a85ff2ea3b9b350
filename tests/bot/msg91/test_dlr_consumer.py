"""Delivery reports from the Redis stream sb:<tenant>:dlr applied monotonically (real Redis)."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import DeliveryReport, DeliveryState
from supportbot.provider.dlr_consumer import DeliveryReportConsumer
from supportbot.provider.dlr_store import InMemoryDeliveryStateStore
from supportbot.queueing.testing import wait_until

S = DeliveryState
STREAM = keyspace.dlr_stream_key("acme")


def _report(mid: str, state: S, code: str | None = None) -> DeliveryReport:
    return DeliveryReport(
        tenant_id="acme",
        provider_message_id=mid,
        state=state,
        received_at=1.0,
        error_code=code,
        error_reason="reason" if code else None,
    )


async def _xadd(r: aioredis.Redis, *reports: DeliveryReport) -> None:
    for report in reports:
        await r.xadd(STREAM, {"r": report.to_json()})


async def _state(store: InMemoryDeliveryStateStore, mid: str) -> S:
    record = await store.load("acme", mid)
    assert record is not None
    return record.state


async def test_out_of_order_and_duplicate_reports_end_monotonic(aredis: aioredis.Redis) -> None:
    store = InMemoryDeliveryStateStore()
    for mid in ("m1", "m2", "m3", "m4"):
        store.register("acme", mid)
    await _xadd(
        aredis,
        _report("m1", S.READ),
        _report("m1", S.SENT),  # late sent after read
        _report("m1", S.DELIVERED),
        _report("m1", S.READ),  # duplicate
        _report("m2", S.SENT),
        _report("m2", S.FAILED, "131047"),
        _report("m2", S.SENT),
        _report("m3", S.DELIVERED),
        _report("m3", S.FAILED, "131026"),  # after delivered: ignored
        _report("m4", S.FAILED, "131026"),
        _report("m4", S.READ),  # multi-device: read wins
    )
    consumer = DeliveryReportConsumer(aredis, "acme", store)
    stats = await consumer.run_once(block=False)
    assert stats.results == {"applied": 6, "ignored": 5}
    assert [await _state(store, m) for m in ("m1", "m2", "m3", "m4")] == [
        S.READ,
        S.FAILED,
        S.DELIVERED,
        S.READ,
    ]
    m2 = await store.load("acme", "m2")
    assert m2 is not None and (m2.error_code, m2.error_reason) == ("131047", "reason")
    pending = await aredis.xpending(STREAM, "delivery-state")
    assert pending["pending"] == 0


async def test_report_before_the_message_is_stored_is_retried(aredis: aioredis.Redis) -> None:
    store = InMemoryDeliveryStateStore()
    await _xadd(aredis, _report("late", S.DELIVERED))
    consumer = DeliveryReportConsumer(aredis, "acme", store, retry_idle_ms=50)
    assert (await consumer.run_once(block=False)).results == {"pending": 1}
    store.register("acme", "late")  # the send result lands in storage

    async def idle_enough() -> bool:
        (entry,) = await aredis.xpending_range(STREAM, "delivery-state", "-", "+", 1)
        return int(entry["time_since_delivered"]) >= 50

    await wait_until(idle_enough, 5, "the pending report to pass retry_idle_ms")
    assert (await consumer.run_once(block=False)).results == {"applied": 1}
    assert await _state(store, "late") is S.DELIVERED
    assert (await aredis.xpending(STREAM, "delivery-state"))["pending"] == 0


async def test_unknown_messages_are_dropped_after_max_deliveries(aredis: aioredis.Redis) -> None:
    store = InMemoryDeliveryStateStore()
    await _xadd(aredis, _report("ghost", S.SENT))
    consumer = DeliveryReportConsumer(aredis, "acme", store, retry_idle_ms=1, max_deliveries=3)
    seen = []
    for _ in range(4):
        await asyncio.sleep(0.01)
        seen.append((await consumer.run_once(block=False)).results)
    assert seen == [{"pending": 1}, {"pending": 1}, {"pending": 1}, {"unknown": 1}]
    assert (await aredis.xpending(STREAM, "delivery-state"))["pending"] == 0


async def test_invalid_entries_are_acknowledged(aredis: aioredis.Redis) -> None:
    await aredis.xadd(STREAM, {"r": "{not json"})
    await aredis.xadd(STREAM, {"other": "field"})
    await aredis.xadd(STREAM, {"r": '{"tenant_id": "acme"}'})
    consumer = DeliveryReportConsumer(aredis, "acme", InMemoryDeliveryStateStore())
    assert (await consumer.run_once(block=False)).results == {"invalid": 3}
    assert (await aredis.xpending(STREAM, "delivery-state"))["pending"] == 0


async def test_two_consumers_share_the_stream(redis_url: str) -> None:
    store = InMemoryDeliveryStateStore()
    reports = []
    for i in range(50):
        store.register("acme", f"m{i}")
        reports += [_report(f"m{i}", S.SENT), _report(f"m{i}", S.DELIVERED)]
    a, b = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    try:
        await _xadd(a, *reports)
        ca = DeliveryReportConsumer(a, "acme", store, consumer="a", count=7)
        cb = DeliveryReportConsumer(b, "acme", store, consumer="b", count=7)
        totals = {"a": 0, "b": 0}
        while sum(totals.values()) < 100:
            sa, sb = await asyncio.gather(ca.run_once(block=False), cb.run_once(block=False))
            totals["a"] += sa.total
            totals["b"] += sb.total
        assert totals["a"] > 0 and totals["b"] > 0 and sum(totals.values()) == 100
        assert all(r.state is S.DELIVERED for r in store.records.values())
    finally:
        await a.aclose()
        await b.aclose()


async def test_run_until_stopped(aredis: aioredis.Redis) -> None:
    store = InMemoryDeliveryStateStore()
    store.register("acme", "m")
    consumer = DeliveryReportConsumer(aredis, "acme", store, block_ms=50)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await _xadd(aredis, _report("m", S.READ))
    for _ in range(100):
        if await _state(store, "m") is S.READ:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert await _state(store, "m") is S.READ
