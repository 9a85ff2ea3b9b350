"""Apply delivery reports from the Redis stream ``sb:<tenant>:dlr`` to a `DeliveryStateStore`.

The webhook's status endpoint XADDs each report as `DeliveryReport` JSON in field ``r``. This
consumer reads with a consumer group (so replicas share the work and a crash loses nothing),
applies each report through the pure state machine with compare-and-set, and acknowledges it.

A report for a message the store does not know yet (the report overtook the storing of the send
result) stays pending and is retried once idle for `retry_idle_ms`; after `max_deliveries`
tries it is acknowledged and counted as ``unknown``; such reports are also indexed per customer
for the in-doubt check of replies whose sender died mid-send (`indoubt`). Unparseable entries
are acknowledged and counted as ``invalid``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from supportbot import keyspace
from supportbot.messages import DeliveryReport
from supportbot.provider import dlr, metrics
from supportbot.provider.dlr import DeliveryRecord
from supportbot.provider.dlr_store import DeliveryStateStore
from supportbot.provider.indoubt import remember_unknown, report_ids

log = logging.getLogger(__name__)

APPLIED, IGNORED, UNKNOWN, INVALID, CONFLICT = (
    "applied",
    "ignored",
    "unknown",
    "invalid",
    "conflict",
)
PENDING = "pending"
"""Batch-stats key for reports left pending (unknown message or lost races) for a later retry."""
_CAS_ROUNDS = 8


async def _load_any(store: DeliveryStateStore, report: DeliveryReport) -> DeliveryRecord | None:
    # MSG91 reports name both the request id and the wamid; the send side stored either
    for provider_message_id in report_ids(report):
        record = await store.load(report.tenant_id, provider_message_id)
        if record is not None:
            return record
    return None


async def apply_to_store(store: DeliveryStateStore, report: DeliveryReport) -> str:
    """Apply one report; returns applied / ignored / unknown / conflict (lost every CAS round)."""
    for _ in range(_CAS_ROUNDS):
        record = await _load_any(store, report)
        if record is None:
            return UNKNOWN
        updated = dlr.apply_report(record, report)
        if updated is None:
            return IGNORED
        if await store.compare_and_set(report.tenant_id, record.state, updated):
            return APPLIED
    return CONFLICT


def _default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class BatchStats:
    results: dict[str, int] = field(default_factory=dict)

    def add(self, result: str) -> None:
        self.results[result] = self.results.get(result, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.results.values())


class DeliveryReportConsumer:
    def __init__(
        self,
        redis: aioredis.Redis,
        tenant_id: str,
        store: DeliveryStateStore,
        *,
        group: str = "delivery-state",
        consumer: str | None = None,
        count: int = 100,
        block_ms: int = 1000,
        retry_idle_ms: int = 5000,
        max_deliveries: int = 10,
    ) -> None:
        self.redis = redis
        self.tenant_id = tenant_id
        self.store = store
        self.stream = keyspace.dlr_stream_key(tenant_id)
        self.group = group
        self.consumer = consumer or _default_consumer()
        self.count = count
        self.block_ms = block_ms
        self.retry_idle_ms = retry_idle_ms
        self.max_deliveries = max_deliveries
        self._group_ready = False

    async def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def run_once(self, *, block: bool = True) -> BatchStats:
        """Retry idle pending entries, then read new ones (blocking up to `block_ms`)."""
        await self.ensure_group()
        stats = BatchStats()
        await self._retry_pending(stats)
        reply: Any = await self.redis.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.count,
            block=self.block_ms if block else None,
        )
        for _stream, entries in reply or []:
            await self._process(entries, stats)
        return stats

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; errors are logged and retried after a pause."""
        while not stop.is_set():
            try:
                await self.run_once()
            except (aioredis.ConnectionError, aioredis.TimeoutError):
                log.warning("delivery-report consumer lost Redis; retrying", exc_info=True)
                await asyncio.sleep(1.0)

    async def _retry_pending(self, stats: BatchStats) -> None:
        pending: list[dict[str, Any]] = await self.redis.xpending_range(
            self.stream, self.group, min="-", max="+", count=self.count, idle=self.retry_idle_ms
        )
        if not pending:
            return
        give_up: list[Any] = []
        retry: list[Any] = []
        for p in pending:
            (retry if int(p["times_delivered"]) < self.max_deliveries else give_up).append(
                p["message_id"]
            )
        if give_up:
            await self.redis.xack(self.stream, self.group, *give_up)
            for _ in give_up:
                stats.add(UNKNOWN)
                metrics.DLR_REPORTS.labels("unknown", UNKNOWN).inc()
            log.warning("dropped %d delivery reports for unknown messages", len(give_up))
        if retry:
            entries: Any = await self.redis.xclaim(
                self.stream, self.group, self.consumer, self.retry_idle_ms, retry
            )
            await self._process(entries, stats)

    async def _process(self, entries: list[Any], stats: BatchStats) -> None:
        done: list[Any] = []
        for entry_id, fields in entries:
            if not fields:  # deleted from the stream while pending
                done.append(entry_id)
                continue
            raw = fields.get(b"r", fields.get("r"))
            try:
                report = DeliveryReport.from_json(raw)
            except (TypeError, ValueError, KeyError):
                metrics.DLR_REPORTS.labels("unknown", INVALID).inc()
                stats.add(INVALID)
                done.append(entry_id)
                continue
            result = await apply_to_store(self.store, report)
            if result == UNKNOWN:  # perhaps the send of a reply whose sender died: `indoubt`
                await remember_unknown(self.redis, report)
            if result in (UNKNOWN, CONFLICT):
                stats.add(PENDING)
                continue  # stays pending; retried after retry_idle_ms
            metrics.DLR_REPORTS.labels(report.state.value, result).inc()
            stats.add(result)
            done.append(entry_id)
        if done:
            await self.redis.xack(self.stream, self.group, *done)
