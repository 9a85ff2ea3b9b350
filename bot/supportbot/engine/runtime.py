"""Process wiring of the conversation engine: resources from settings, background tasks, and the
worker's handler factory.

    supportbot worker --handler supportbot.engine.runtime:engine_handler

`engine_handler(settings, redis)` (a `queueing.handler_factory.HandlerFactory`) opens everything
the engine needs for the life of the worker process (PostgreSQL pool, the tenant's provider
(MSG91 or Meta, `provider.select`) + `Deliverer` with the PostgreSQL attempt recorder,
OpenRouter client, hot-reloading flow store, the `BackendCaller` of the flow's HTTP steps),
starts the background tasks the worker runs beside turns, and yields the `ConversationEngine`:

- the raw-body archiver (`storage.archive.RawArchiver`: Redis stream -> ``raw_webhooks``);
- the delivery-report consumer (`provider.dlr_consumer`: Redis stream -> message states);
- the CSAT sender (`engine.csat`: idle surveys, due rating questions);
- the handoff notifier (`notify.HandoffNotifier`: outbox -> the business's webhook), when the
  tenant configured one.

Each background task is supervised: an unexpected error is logged and the task restarted after a
pause, so one bad batch (or a database blip) never stops archiving or delivery reports for good.
The Redis client must not decode responses (the archiver stores raw bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.csat import CsatSender
from supportbot.engine.httpstep import BackendCaller
from supportbot.flow import FlowStore
from supportbot.llm import LLMConfig, OpenRouterClient
from supportbot.notify import HandoffNotifier, NotifyConfig
from supportbot.outbound import PgDeliveryStateStore, open_delivery
from supportbot.provider.backoff import RetryPolicy
from supportbot.provider.deliverer import Deliverer
from supportbot.provider.dlr_consumer import DeliveryReportConsumer
from supportbot.provider.interface import Provider
from supportbot.provider.receipts import ReadReceipts
from supportbot.settings import BotSettings
from supportbot.storage.archive import RawArchiver
from supportbot.storage.db import Pool, create_pool_from_settings

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 1.0
STOP_WAIT_SECONDS = 5.0


@dataclass
class EngineResources:
    settings: BotSettings
    pool: Pool
    redis: aioredis.Redis
    provider: Provider
    deliverer: Deliverer
    llm: OpenRouterClient | None
    flows: FlowStore
    backend: BackendCaller | None = None

    def csat_sender(self) -> CsatSender:
        return CsatSender(self.pool, self.deliverer, self.flows, self.settings.tenant_id)

    def engine(self) -> ConversationEngine:
        return ConversationEngine(
            self.settings,
            pool=self.pool,
            redis=self.redis,
            flows=self.flows,
            deliverer=self.deliverer,
            llm=self.llm,
            backend=self.backend,
            receipts=ReadReceipts(self.provider),
        )


@asynccontextmanager
async def open_resources(
    settings: BotSettings, redis: aioredis.Redis, *, retry_policy: RetryPolicy | None = None
) -> AsyncIterator[EngineResources]:
    """Everything the engine uses; closed on exit. Raises `flow.FlowError` when the flow file
    is missing or invalid (a bot must not start without a flow)."""
    flows = FlowStore(settings.flow_path, http_allow_hosts=settings.flow_http_allow_hosts)
    if not settings.llm_models:
        log.warning("no LLM models configured: free text gets the flow's fallback message")
    pool = await create_pool_from_settings(settings)
    try:
        llm = OpenRouterClient(LLMConfig.from_settings(settings)) if settings.llm_models else None
        backend = BackendCaller(settings.flow_http_allow_hosts, settings.flow_http_secrets_dir)
        try:
            delivery = open_delivery(settings, redis, pool, retry_policy=retry_policy)
            async with delivery as (client, deliverer):
                yield EngineResources(settings, pool, redis, client, deliverer, llm, flows, backend)
        finally:
            await backend.aclose()
            if llm is not None:
                await llm.aclose()
    finally:
        await pool.close()


async def supervise(
    name: str, run: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Run `run(stop)` until `stop` is set, restarting it after unexpected errors."""
    while not stop.is_set():
        try:
            await run(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task failed; restarting", extra={"task": name})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=RESTART_PAUSE_SECONDS)


@asynccontextmanager
async def background_tasks(
    settings: BotSettings,
    redis: aioredis.Redis,
    pool: Pool,
    *,
    csat: CsatSender | None = None,
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run the raw-body archiver, the delivery-report consumer, (given) the CSAT sender and
    (with a handoff webhook) the handoff notifier while the context is open."""
    stop = asyncio.Event()
    archiver = RawArchiver(redis, pool, settings.tenant_id)
    consumer = DeliveryReportConsumer(redis, settings.tenant_id, PgDeliveryStateStore(pool))
    tasks = [
        asyncio.create_task(supervise("raw-archiver", archiver.run, stop), name="raw-archiver"),
        asyncio.create_task(supervise("dlr-consumer", consumer.run, stop), name="dlr-consumer"),
    ]
    if csat is not None:
        tasks.append(asyncio.create_task(supervise("csat", csat.run, stop), name="csat"))
    notify = NotifyConfig.from_settings(settings)
    client: httpx.AsyncClient | None = None
    if notify is not None:
        client = httpx.AsyncClient(timeout=notify.timeout_seconds, follow_redirects=False)
        notifier = HandoffNotifier(pool, settings.tenant_id, notify, client)
        tasks.append(
            asyncio.create_task(
                supervise("handoff-notifier", notifier.run, stop), name="handoff-notifier"
            )
        )
    try:
        yield tasks
    finally:
        stop.set()
        _, pending = await asyncio.wait(tasks, timeout=STOP_WAIT_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if client is not None:
            await client.aclose()


@asynccontextmanager
async def engine_handler(
    settings: BotSettings, redis: aioredis.Redis, *, retry_policy: RetryPolicy | None = None
) -> AsyncIterator[ConversationEngine]:
    """The worker's handler factory: the real conversation engine plus its background tasks.
    (`retry_policy` tunes MSG91 send retries; the worker uses the default.)"""
    resources = open_resources(settings, redis, retry_policy=retry_policy)
    async with (
        resources as res,
        background_tasks(settings, redis, res.pool, csat=res.csat_sender()),
    ):
        log.info(
            "conversation engine started",
            extra={"tenant": settings.tenant_id, "flow": res.flows.current().name},
        )
        yield res.engine()
