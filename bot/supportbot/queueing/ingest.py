"""Webhook side of the queue: accept one parsed message in exactly one Redis round trip.

`Ingestor.accept` runs the INGEST Lua script (EVALSHA, loaded again on NOSCRIPT): dedupe on the
message id (SET NX EX), archive the raw body to ``sb:{t}:raw``, count the customer's per-minute
throttle window, append the entry to the conversation inbox and, when no drain is queued or
running for that conversation, enqueue an rq drain job whose hash was prepared here with rq's own
serialisation (no extra Redis I/O).

The script goes over the webhook's `PipelinedRedis` client (concurrent requests share one
connection and its syscalls). Everything that is the same for every message (keys of the
tenant, limits, TTLs) is computed once.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import InboundMessage
from supportbot.observability import mask_phone
from supportbot.queueing import rqjobs, scripts
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.adapters.pipelined import LuaScript, PipelinedRedis
from supportbot.queueing.entries import encode_body
from supportbot.settings import BotSettings

log = logging.getLogger(__name__)

RAW_STREAM_MAXLEN = 100_000
"""Approximate cap of the raw-body archive stream (XADD MAXLEN ~)."""
THROTTLE_WINDOW_SECONDS = 60


class AcceptOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    THROTTLED = "throttled"
    """Recorded in the inbox, flagged so the engine does not send it to the LLM."""
    THROTTLED_NOTIFY = "throttled_notify"
    """Like THROTTLED, and the first over-limit message of its window: tell the customer once."""


_OUTCOMES = {
    0: AcceptOutcome.DUPLICATE,
    1: AcceptOutcome.ACCEPTED,
    2: AcceptOutcome.THROTTLED,
    3: AcceptOutcome.THROTTLED_NOTIFY,
}


class TenantMismatchError(ValueError):
    """The message belongs to another tenant than this process serves."""


INGEST_SCRIPT = LuaScript(scripts.INGEST)


class Ingestor:
    """Accepts inbound messages of one tenant into its mailboxes and rq queue."""

    def __init__(
        self,
        redis: aioredis.Redis,
        settings: BotSettings,
        *,
        pipeline: PipelinedRedis,
    ) -> None:
        self._redis = redis
        self._settings = settings
        self._pipeline = pipeline
        t = settings.tenant_id
        self._raw_key = keyspace.raw_stream_key(t)
        self._active_key = keyspace.active_key(t)
        self._queue_key = jobhash.queue_key(settings.queue_name)
        self._queues_key = jobhash.queues_key()
        self._pending_ms = rqjobs.pending_lease_ms(settings)

    async def accept(self, message: InboundMessage, raw_body: bytes) -> AcceptOutcome:
        s = self._settings
        if message.tenant_id != s.tenant_id:
            raise TenantMismatchError(
                f"message for tenant {message.tenant_id!r}, not {s.tenant_id!r}"
            )
        ref = keyspace.conversation_ref(message.customer_id)
        conv = keyspace.conversation_keys(s.tenant_id, ref)
        window = int(message.received_at // THROTTLE_WINDOW_SECONDS)
        job = jobhash.prepare_drain_job(s, ref, self._redis)
        script_keys = (
            keyspace.dedupe_key(s.tenant_id, message.message_id),
            self._raw_key,
            keyspace.throttle_key(s.tenant_id, ref, window),
            conv.inbox,
            conv.lease,
            self._active_key,
            job.key,
            self._queue_key,
            self._queues_key,
        )
        args = (
            s.dedupe_ttl_seconds,
            raw_body,
            repr(message.received_at),
            message.message_id,
            s.throttle_per_minute,
            THROTTLE_WINDOW_SECONDS * 2,
            encode_body(message),
            ref,
            job.id,
            self._pending_ms,
            RAW_STREAM_MAXLEN,
            *job.fields,
        )
        result = await self._pipeline.evalsha(INGEST_SCRIPT, script_keys, args)
        outcome = _OUTCOMES[int(result[0])]
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "ingest %s",
                outcome.value,
                extra={
                    "customer": mask_phone(message.phone),
                    "conv": ref,
                    "drain_enqueued": int(result[1]),
                },
            )
        return outcome
