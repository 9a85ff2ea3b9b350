"""Per-conversation mailbox operations (thin async edge over the Lua scripts in `scripts`).

One drain at a time owns a conversation through its lease. Claimed messages move from the inbox
to the ``proc`` list and stay there until the turn is acknowledged (`finish(ack=True)`), parked
for a retry, or dead-lettered, so a crash never loses them: the next owner re-runs the same turn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import InboundMessage
from supportbot.queueing import rqjobs, scripts
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.entries import EntryError, decode_entry
from supportbot.settings import BotSettings


class Acquired(Enum):
    NO = 0
    """Another drain owns the conversation."""
    QUEUED = 1
    """We were the queued drain."""
    TAKEOVER = 2
    """The lease had expired or was never set: we took the conversation over."""


class ClaimStatus(Enum):
    LOST = "lost"
    EMPTY = "empty"
    CLAIMED = "claimed"


@dataclass(frozen=True, slots=True)
class Claim:
    status: ClaimStatus
    attempt: int = 0
    entries: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class Peek:
    held: int
    """Messages of an unacknowledged turn (a re-run is due)."""
    pending: int
    first: InboundMessage | None
    last: InboundMessage | None


def _decode_or_none(raw: Any) -> InboundMessage | None:
    if raw is None:
        return None
    try:
        return decode_entry(raw)
    except EntryError:
        return None


class Mailbox:
    """Mailbox operations of one tenant; all calls are single round trips."""

    def __init__(self, redis: aioredis.Redis, settings: BotSettings) -> None:
        self._r = redis
        self._s = settings
        self._lease_ms = int(settings.lease_seconds * 1000)
        self._pending_ms = rqjobs.pending_lease_ms(settings)
        self._acquire = redis.register_script(scripts.ACQUIRE)
        self._renew = redis.register_script(scripts.RENEW)
        self._claim = redis.register_script(scripts.CLAIM)
        self._finish = redis.register_script(scripts.FINISH)
        self._park = redis.register_script(scripts.PARK)
        self._split = redis.register_script(scripts.SPLIT)
        self._requeue = redis.register_script(scripts.REQUEUE)
        self._dead = redis.register_script(scripts.DEAD)
        self._kick = redis.register_script(scripts.KICK)

    def keys(self, ref: str) -> keyspace.ConversationKeys:
        return keyspace.conversation_keys(self._s.tenant_id, ref)

    def _rq_keys(self, job: jobhash.PreparedJob) -> list[str]:
        return [job.key, jobhash.queue_key(self._s.queue_name), jobhash.queues_key()]

    async def acquire(self, ref: str, job_id: str, token: str) -> Acquired:
        k = self.keys(ref)
        taken = await self._acquire(keys=[k.lease], args=[job_id, token, self._lease_ms])
        if not int(taken):
            return Acquired.NO
        return Acquired.QUEUED if int(taken) == 1 else Acquired.TAKEOVER

    async def renew(self, ref: str, token: str) -> bool:
        return bool(
            int(await self._renew(keys=[self.keys(ref).lease], args=[token, self._lease_ms]))
        )

    async def peek(self, ref: str) -> Peek:
        k = self.keys(ref)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.llen(k.processing)
            pipe.llen(k.inbox)
            pipe.lindex(k.inbox, 0)
            pipe.lindex(k.inbox, -1)
            held, pending, first, last = await pipe.execute()
        return Peek(int(held), int(pending), _decode_or_none(first), _decode_or_none(last))

    async def claim(self, ref: str, token: str, max_batch: int) -> Claim:
        k = self.keys(ref)
        reply = await self._claim(
            keys=[k.lease, k.inbox, k.processing, k.attempt],
            args=[token, max_batch, self._lease_ms],
        )
        head = int(reply[0])
        if head < 0:
            return Claim(ClaimStatus.LOST)
        if head == 0:
            return Claim(ClaimStatus.EMPTY)
        return Claim(ClaimStatus.CLAIMED, head, tuple(reply[1:]))

    async def finish(self, ref: str, token: str, job_id: str, *, ack: bool) -> int:
        """-1 not owner, 0 idle (lease released), 1 more pending (next drain enqueued)."""
        k = self.keys(ref)
        nxt = jobhash.prepare_drain_job(self._s, ref, self._r)
        return int(
            await self._finish(
                keys=[k.lease, k.inbox, k.processing, k.attempt, self._active, *self._rq_keys(nxt)],
                args=[
                    token,
                    job_id,
                    "1" if ack else "0",
                    ref,
                    nxt.id,
                    self._pending_ms,
                    *nxt.fields,
                ],
            )
        )

    async def park(self, ref: str, token: str, job_id: str) -> bool:
        """Keep the conversation for `job_id`, which rq will run again (retry or hand-back)."""
        k = self.keys(ref)
        return bool(int(await self._park(keys=[k.lease], args=[token, job_id, self._pending_ms])))

    async def requeue(self, ref: str, job_id: str, token: str | None, intermediate: str) -> bool:
        """Put a drain job this worker popped but never started (Redis failed under it) back at
        the front of the queue, its conversation's lease again the job's queued marker."""
        k = self.keys(ref)
        queue = jobhash.queue_key(self._s.queue_name)
        done = await self._requeue(
            keys=[intermediate, queue, k.lease], args=[job_id, token or "", self._pending_ms]
        )
        return bool(int(done))

    async def split(self, ref: str, token: str) -> int:
        """Keep only the oldest held message for the next run of the turn; the others go back
        to the front of the inbox in order. -1 not owner, else how many went back."""
        k = self.keys(ref)
        return int(await self._split(keys=[k.lease, k.inbox, k.processing], args=[token]))

    async def dead_letter(self, ref: str, token: str, job_id: str, reason: str) -> int:
        """Move the held turn to ``sb:{t}:dead``; -1 not owner, 0 idle, 1 next drain enqueued."""
        k = self.keys(ref)
        nxt = jobhash.prepare_drain_job(self._s, ref, self._r)
        dead = keyspace.dead_letter_key(self._s.tenant_id)
        return int(
            await self._dead(
                keys=[
                    k.lease,
                    k.inbox,
                    k.processing,
                    k.attempt,
                    self._active,
                    dead,
                    *self._rq_keys(nxt),
                ],
                args=[
                    token,
                    job_id,
                    ref,
                    reason[:500],
                    repr(time.time()),
                    nxt.id,
                    self._pending_ms,
                    *nxt.fields,
                ],
            )
        )

    async def kick(self, ref: str) -> int:
        """Enqueue a drain for `ref` if it has messages and no live lease (the sweeper).

        0 nothing to do, 1 enqueued, 2 enqueued for a turn orphaned mid-way."""
        k = self.keys(ref)
        nxt = jobhash.prepare_drain_job(self._s, ref, self._r)
        done = await self._kick(
            keys=[k.lease, k.inbox, k.processing, self._active, *self._rq_keys(nxt)],
            args=[ref, nxt.id, self._pending_ms, *nxt.fields],
        )
        return int(done)

    @property
    def _active(self) -> str:
        return keyspace.active_key(self._s.tenant_id)
