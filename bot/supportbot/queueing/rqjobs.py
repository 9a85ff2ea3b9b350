"""Drain jobs as ordinary rq jobs, prepared in Python without Redis I/O.

A drain job asks "run the next turn of conversation `ref`". The hash is rq's own serialisation
(`Job.create(...).to_dict()`), so `rq info`, the registries and `FailedJobRegistry` treat it as a
normal job; our Lua scripts HSET it and RPUSH its id, which is what `Queue.enqueue` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rq.job import Job, JobStatus, Retry
from rq.queue import Queue
from rq.utils import now

from supportbot.queueing.keys import drain_job_id
from supportbot.settings import BotSettings

DRAIN_FUNC = "supportbot.queueing.rqjobs.drain_conversation"
DRAIN_RETRIES = 3
"""rq `Retry(max=...)` of every drain job: a failing turn runs at most 1 + this many times."""
RESULT_TTL_SECONDS = 300
FAILURE_TTL_SECONDS = 7 * 86_400

FieldValue = str | bytes | int | float


class DrainJobError(RuntimeError):
    """A drain job was executed by something other than the supportbot worker."""


def drain_conversation(tenant_id: str, ref: str) -> None:
    """The function rq records for drain jobs; only `supportbot worker` can run them."""
    raise DrainJobError(
        f"drain job for {tenant_id}/{ref} must run in `supportbot worker`, not a plain rq worker"
    )


@dataclass(frozen=True, slots=True)
class PreparedJob:
    id: str
    key: str
    fields: tuple[FieldValue, ...]
    """Flattened field/value pairs of the rq job hash."""


def queue_key(queue_name: str) -> str:
    return f"{Queue.redis_queue_namespace_prefix}{queue_name}"


def queues_key() -> str:
    return str(Queue.redis_queues_keys)


def job_timeout_seconds(settings: BotSettings) -> int:
    """rq's `timeout` of a drain job: one turn plus its coalescing wait."""
    return math.ceil(settings.turn_timeout_seconds + settings.coalesce_max_wait_seconds) + 5


def pending_lease_ms(settings: BotSettings) -> int:
    """How long a queued (not yet running) drain keeps the conversation before the sweeper
    may assume it lost and enqueue another one."""
    return int(max(settings.lease_seconds * 10, 300.0) * 1000)


def _flat(mapping: dict[str, Any]) -> tuple[FieldValue, ...]:
    out: list[FieldValue] = []
    for name, value in mapping.items():
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, bool):
            value = int(value)
        if not isinstance(value, str | bytes | int | float):
            raise TypeError(f"rq job field {name!r} has unsupported type {type(value).__name__}")
        out.extend((name, value))
    return tuple(out)


def prepare_drain_job(settings: BotSettings, ref: str, connection: Any) -> PreparedJob:
    """A QUEUED rq job hash for draining conversation `ref` (no Redis I/O).

    `connection` is only stored on the in-memory Job (rq requires one); it is not used.
    """
    job_id = drain_job_id(ref)
    job = Job.create(
        DRAIN_FUNC,
        args=(settings.tenant_id, ref),
        connection=connection,
        id=job_id,
        origin=settings.queue_name,
        timeout=job_timeout_seconds(settings),
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=FAILURE_TTL_SECONDS,
        retry=Retry(max=DRAIN_RETRIES),
        description=f"supportbot drain {settings.tenant_id}/{ref}",
        status=JobStatus.QUEUED,
    )
    job.enqueued_at = now()
    return PreparedJob(id=job_id, key=Job.key_for(job_id), fields=_flat(job.to_dict()))
