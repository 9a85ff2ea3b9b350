"""Delivery states: monotonic merge, out-of-order and early reports, MSG91 seams over PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import (
    DeliveryReport,
    DeliveryState,
    OutboundKind,
    OutboundMessage,
    next_delivery_state,
)
from supportbot.msg91.errors import AttemptOutcome
from supportbot.outbound import PgAttemptRecorder, PgDeliveryStateStore
from supportbot.provider import dlr
from supportbot.provider.attempts import AttemptRecorder, DeliveryAttempt
from supportbot.provider.dlr_consumer import DeliveryReportConsumer, apply_to_store
from supportbot.provider.dlr_store import DeliveryStateStore
from supportbot.queueing.testing import wait_until
from supportbot.storage import delivery, history, queries
from supportbot.storage.db import Pool, connection
from supportbot.storage.delivery import DeliveryStatus, merge

S = DeliveryState
T0 = 1_780_000_000.0


def at(offset: float) -> datetime:
    return datetime.fromtimestamp(T0 + offset, UTC)


def test_merge_follows_the_state_machine() -> None:
    for current, reported in itertools.product(list(S), repeat=2):
        before = DeliveryStatus(state=current)
        after = merge(before, reported, "131026", "undeliverable", at(0))
        expected = next_delivery_state(current, reported)
        assert after.state is (current if expected is None else expected), (current, reported)


@pytest.mark.parametrize(
    ("reports", "final"),
    [
        ([S.SENT, S.DELIVERED, S.READ], S.READ),
        ([S.READ, S.DELIVERED, S.SENT], S.READ),
        ([S.SENT, S.FAILED, S.SENT], S.FAILED),
        ([S.FAILED, S.DELIVERED], S.DELIVERED),
        ([S.DELIVERED, S.FAILED], S.DELIVERED),
        ([S.QUEUED, S.READ, S.QUEUED], S.READ),
    ],
)
def test_merge_sequences_only_move_forward(reports: list[DeliveryState], final: S) -> None:
    status = DeliveryStatus(state=S.QUEUED)
    for i, state in enumerate(reports):
        status = merge(status, state, None, None, at(i))
    assert status.state is final


def test_out_of_order_stamps_are_kept_and_failure_reason_survives_delivery() -> None:
    status = merge(DeliveryStatus(state=S.SENT), S.READ, None, None, at(5))
    status = merge(status, S.DELIVERED, None, None, at(3))
    assert status.state is S.READ and status.delivered_at == at(3) and status.read_at == at(5)
    failed = merge(DeliveryStatus(state=S.SENT), S.FAILED, "131047", "window", at(1))
    late = merge(failed, S.DELIVERED, None, None, at(2))
    assert late.state is S.DELIVERED
    assert (late.error_code, late.error_reason, late.failed_at) == ("131047", "window", at(1))


async def _reply(pool: Pool, turn: str = "turn-1", seq: int = 0, pid: str | None = "p1") -> None:
    await history.record_outbound(
        pool, "acme", "c1", turn, seq, OutboundMessage(OutboundKind.TEXT, "hi"), at=T0
    )
    if pid is not None:
        await delivery.update_outbound(
            pool, "acme", turn, seq, S.SENT, provider_message_id=pid, at=T0 + 1
        )


def _dlr(state: S, offset: float, pid: str = "p1", code: str | None = None) -> DeliveryReport:
    return DeliveryReport(
        "acme",
        pid,
        state,
        received_at=T0 + offset,
        occurred_at=T0 + offset,
        error_code=code,
        error_reason="late" if code else None,
    )


async def test_reports_are_monotonic_in_the_database(pool: Pool) -> None:
    await _reply(pool)
    store = PgDeliveryStateStore(pool)
    assert await apply_to_store(store, _dlr(S.READ, 5)) == "applied"
    for stale in (_dlr(S.DELIVERED, 3), _dlr(S.SENT, 2), _dlr(S.FAILED, 9, code="x")):
        assert await apply_to_store(store, stale) == "ignored"
    assert await apply_to_store(store, _dlr(S.READ, 7)) == "ignored", "duplicate"
    msg = (await queries.get_messages(pool, "acme", "c1"))[0]
    assert msg.delivery_state is S.READ
    assert (msg.sent_at, msg.read_at) == (at(1), at(5))
    assert msg.failed_at is None and msg.delivery_error_code is None


async def test_concurrent_reports_end_at_the_highest_state(pool: Pool) -> None:
    await _reply(pool)
    store = PgDeliveryStateStore(pool)
    states = [S.DELIVERED, S.SENT, S.READ, S.FAILED, S.DELIVERED, S.SENT] * 3
    pending = [_dlr(s, i) for i, s in enumerate(states)]
    while pending:  # a report that lost every compare-and-set round is retried (the consumer)
        results = await asyncio.gather(*(apply_to_store(store, r) for r in pending))
        pending = [r for r, result in zip(pending, results, strict=True) if result == "conflict"]
    record = await store.load("acme", "p1")
    assert record is not None and record.state is S.READ


async def test_a_report_that_overtakes_the_send_response_waits_in_the_stream(
    pool: Pool, aredis: aioredis.Redis
) -> None:
    await _reply(pool, pid=None)
    stream = keyspace.dlr_stream_key("acme")
    await aredis.xadd(stream, {"r": _dlr(S.DELIVERED, 4, pid="early").to_json()})
    consumer = DeliveryReportConsumer(
        aredis, "acme", PgDeliveryStateStore(pool), consumer="t", retry_idle_ms=1
    )
    assert (await consumer.run_once(block=False)).results == {"pending": 1}
    state = await delivery.update_outbound(
        pool, "acme", "turn-1", 0, S.SENT, provider_message_id="early", at=T0 + 2
    )
    assert state is S.SENT

    async def applied() -> bool:
        return (await consumer.run_once(block=False)).results == {"applied": 1}

    await wait_until(applied, 5, "the pending report to be applied")
    msg = (await queries.get_messages(pool, "acme", "c1"))[0]
    assert (msg.provider_message_id, msg.delivery_state) == ("early", S.DELIVERED)
    assert (msg.sent_at, msg.delivered_at) == (at(2), at(4))


async def test_local_failure_is_recorded_with_its_reason(pool: Pool) -> None:
    await _reply(pool, pid=None)
    state = await delivery.update_outbound(
        pool, "acme", "turn-1", 0, S.FAILED, error_code="window", error_reason="outside 24 h"
    )
    assert state is S.FAILED
    msg = (await queries.get_messages(pool, "acme", "c1"))[0]
    assert (msg.delivery_error_code, msg.delivery_error_reason) == ("window", "outside 24 h")
    assert await delivery.update_outbound(pool, "acme", "nope", 0, S.SENT) is None


def _attempt(
    n: int,
    outcome: AttemptOutcome,
    *,
    turn_id: str | None = "turn-9",
    pid: str | None = None,
    status: int = 200,
) -> DeliveryAttempt:
    return DeliveryAttempt(
        tenant_id="acme",
        customer_id="c1",
        turn_id=turn_id,
        seq=0 if turn_id else None,
        attempt=n,
        outcome=outcome,
        path="/api/v5/whatsapp/whatsapp-outbound-message/",
        request_body={"content_type": "text", "text": "Your order shipped"},
        started_at=T0 + n,
        duration_seconds=0.25,
        rate_limit_wait_seconds=0.5,
        http_status=status,
        provider_message_id=pid,
        error_code=None if pid else "429",
        error_reason=None if pid else "too many requests",
    )


async def test_attempt_recorder_logs_attempts_and_attaches_the_id(pool: Pool) -> None:
    recorder: AttemptRecorder = PgAttemptRecorder(pool)
    await recorder.record_attempt(_attempt(1, AttemptOutcome.RATE_LIMITED, status=429))
    await recorder.record_attempt(_attempt(2, AttemptOutcome.ACCEPTED, pid="wamid.9"))
    await recorder.record_attempt(_attempt(3, AttemptOutcome.ACCEPTED, turn_id=None, pid="ag1"))
    msgs = await queries.get_messages(pool, "acme", "c1")
    assert [(m.turn_id, m.kind, m.text, m.provider_message_id) for m in msgs] == [
        ("turn-9", "text", "Your order shipped", "wamid.9"),
        ("send:ag1", "text", "Your order shipped", "ag1"),
    ]
    assert msgs[0].delivery_state is S.QUEUED
    async with connection(pool) as conn:
        rows = await conn.fetch(
            "SELECT attempt, outcome, http_status, error, error_code, message_id, duration_ms,"
            " rate_limit_wait_ms FROM delivery_attempts WHERE turn_id = 'turn-9' ORDER BY id"
        )
    assert [tuple(r) for r in rows] == [
        (1, "rate_limited", 429, "too many requests", "429", None, 250.0, 500.0),
        (2, "accepted", 200, None, None, msgs[0].id, 250.0, 500.0),
    ]


async def test_store_implements_compare_and_set(pool: Pool) -> None:
    store: DeliveryStateStore = PgDeliveryStateStore(pool)
    assert await store.load("acme", "p1") is None
    await _reply(pool)
    record = await store.load("acme", "p1")
    assert record is not None and record.state is S.SENT and record.updated_at == T0 + 1
    read = dlr.DeliveryRecord("p1", S.READ, T0 + 8)
    assert not await store.compare_and_set("acme", S.QUEUED, read), "stale expectation"
    assert await store.compare_and_set("acme", S.SENT, read)
    assert not await store.compare_and_set("beta", S.READ, read), "other tenant"
    msg = (await queries.get_messages(pool, "acme", "c1"))[0]
    assert msg.delivery_state is S.READ and msg.read_at == at(8)


async def test_msg91_report_consumer_advances_postgres_states(
    pool: Pool, aredis: aioredis.Redis
) -> None:
    recorder = PgAttemptRecorder(pool)
    await recorder.record_attempt(_attempt(1, AttemptOutcome.ACCEPTED, pid="w1"))
    consumer = DeliveryReportConsumer(
        aredis, "acme", PgDeliveryStateStore(pool), consumer="t", block_ms=10
    )
    await consumer.ensure_group()
    for offset, state in [(5, S.READ), (3, S.DELIVERED), (2, S.SENT), (9, S.FAILED)]:
        report = DeliveryReport(
            "acme", "w1", state, received_at=T0 + offset, occurred_at=T0 + offset
        )
        await aredis.xadd(keyspace.dlr_stream_key("acme"), {"r": report.to_json()})
    stats = await consumer.run_once(block=False)
    assert stats.results == {"applied": 1, "ignored": 3}
    msg = (await queries.get_messages(pool, "acme", "c1"))[0]
    assert msg.delivery_state is S.READ and msg.read_at == at(5)
