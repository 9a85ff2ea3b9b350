"""Drain jobs as ordinary rq jobs, prepared in Python without Redis I/O.

A drain job (`queueing.rqjobs`) asks "run the next turn of conversation `ref`". The hash is
rq's own serialisation (`Job.create(...).to_dict()`), so `rq info`, the registries and
`FailedJobRegistry` treat it as a normal job; our Lua scripts HSET it and RPUSH its id, which
is what `Queue.enqueue` does.

Building an rq `Job` per message is slow (~40-90 µs: the object, a pickle, a fresh zlib stream,
timestamp formatting), and the webhook prepares one for every message it ingests. So rq builds
the hash once per tenant (`_template`), and each drain job copies that template and fills in the
four fields that differ: ``created_at``/``enqueued_at`` (one timestamp for both), ``data`` (the
pickled call, zlib-compressed; see `job_data`) and ``description``. Tests compare the result with
rq's own `Job.create(...).to_dict()` for the same inputs.
"""

from __future__ import annotations

import pickle
import zlib
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from rq.job import Job, JobStatus, Retry
from rq.queue import Queue
from rq.utils import now, utcformat, utcparse

from supportbot.keyspace import drain_job_id
from supportbot.queueing.rqjobs import (
    DRAIN_FUNC,
    DRAIN_RETRIES,
    FAILURE_TTL_SECONDS,
    RESULT_TTL_SECONDS,
    job_timeout_seconds,
)
from supportbot.settings import BotSettings

FieldValue = str | bytes | int | float


@dataclass(frozen=True, slots=True)
class PreparedJob:
    id: str
    key: str
    fields: tuple[FieldValue, ...]
    """Flattened field/value pairs of the rq job hash."""


def queue_key(queue_name: str) -> str:
    return f"{Queue.redis_queue_namespace_prefix}{queue_name}"


async def head_age_seconds(redis: Any, queue_name: str, at: datetime | None = None) -> float:
    """Seconds the job at the head of the rq queue (the next to run) has waited since it was
    enqueued; 0 for an empty queue or a head whose hash is gone. Two reads, no Lua: the head
    may be popped in between, which reads as 0 for one sample."""
    head = await redis.lindex(queue_key(queue_name), 0)
    if head is None:
        return 0.0
    job_id = head.decode() if isinstance(head, bytes) else str(head)
    stamp = await redis.hget(Job.key_for(job_id), "enqueued_at")
    if not stamp:
        return 0.0
    enqueued = utcparse(stamp.decode() if isinstance(stamp, bytes) else str(stamp))
    return max(0.0, ((at or now()) - enqueued).total_seconds())


def queues_key() -> str:
    return str(Queue.redis_queues_keys)


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


def _description(tenant_id: str, ref: str) -> str:
    return f"supportbot drain {tenant_id}/{ref}"


def build_rq_job(
    settings: BotSettings, ref: str, job_id: str, connection: Any, at: datetime | None = None
) -> Job:
    """The drain job as rq builds it (reference for the template and for tests)."""
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
        description=_description(settings.tenant_id, ref),
        status=JobStatus.QUEUED,
    )
    if at is not None:
        job.created_at = at
    job.enqueued_at = at or now()
    return job


_VARYING = ("created_at", "enqueued_at", "data", "description")
_SMALL_WBITS, _SMALL_MEM_LEVEL = 9, 2
_SMALL_INPUT = 250
"""zlib with a 512-byte window (the smallest) emits the same deflate data as with the default
32 KiB one for inputs of at most 250 bytes (its longest match distance), and with memLevel 2 the
same blocks (a 256-symbol buffer); only the 2-byte header, which names the window size, differs.
Setting up such a stream costs ~5 µs instead of ~45 µs for `zlib.compress`."""
_DEFAULT_HEADER = b"\x78\x9c"
"""zlib header of a 32 KiB window at the default level, as `zlib.compress` writes it."""


@dataclass(frozen=True, slots=True)
class _Template:
    fields: tuple[FieldValue, ...]
    slots: dict[str, int]
    """Index of the value of each varying field in `fields`."""


_templates: dict[tuple[str, str, int], _Template] = {}


def _template(settings: BotSettings, connection: Any) -> _Template:
    key = (settings.tenant_id, settings.queue_name, job_timeout_seconds(settings))
    found = _templates.get(key)
    if found is None:
        job = build_rq_job(settings, "template", "sbd-template-0", connection)
        fields = _flat(job.to_dict())
        names = fields[0::2]
        if set(_VARYING) - set(names):
            raise RuntimeError(f"rq's job hash lacks one of {_VARYING}: {names}")
        found = _Template(fields, {n: 2 * names.index(n) + 1 for n in _VARYING})
        global _cheap_zlib_ok
        if job_data(settings.tenant_id, "template") != fields[found.slots["data"]]:
            _cheap_zlib_ok = False
        _templates[key] = found
    return found


def job_data(tenant_id: str, ref: str) -> bytes:
    """``data`` of the job hash: rq's pickled call ``(func, instance, args, kwargs)``, compressed
    to the same bytes as rq's ``zlib.compress`` (cheaper for the usual short input)."""
    call: tuple[str, None, tuple[str, str], dict[str, Any]] = (
        DRAIN_FUNC,
        None,
        (tenant_id, ref),
        {},
    )
    raw = pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL)
    if len(raw) > _SMALL_INPUT or not _cheap_zlib_ok:
        return zlib.compress(raw)
    stream = zlib.compressobj(
        zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, _SMALL_WBITS, _SMALL_MEM_LEVEL
    )
    return _DEFAULT_HEADER + (stream.compress(raw) + stream.flush())[2:]


_cheap_zlib_ok = True
"""Cleared if this zlib build compresses the template's data differently from rq (another zlib
implementation could): then `job_data` uses ``zlib.compress`` like rq. Either way rq reads it."""


_stamp_second: tuple[datetime, str] | None = None


def _utc_stamp(at: datetime) -> str:
    """rq's `utcformat(at)` with the part up to the second formatted once per second."""
    global _stamp_second
    second = at.replace(microsecond=0)
    cached = _stamp_second
    if cached is None or cached[0] != second:
        cached = _stamp_second = (second, utcformat(second)[:-7])  # drop "000000Z"
    return f"{cached[1]}{at.microsecond:06d}Z"


def prepare_drain_job(
    settings: BotSettings, ref: str, connection: Any, *, at: datetime | None = None
) -> PreparedJob:
    """A QUEUED rq job hash for draining conversation `ref` (no Redis I/O).

    `connection` is only handed to rq when the tenant's template is first built; it is not used.
    `at` fixes the created/enqueued time (tests); by default it is now.
    """
    job_id = drain_job_id(ref)
    template = _template(settings, connection)
    fields = list(template.fields)
    slots = template.slots
    stamp = _utc_stamp(at or now())
    fields[slots["created_at"]] = stamp
    fields[slots["enqueued_at"]] = stamp
    fields[slots["data"]] = job_data(settings.tenant_id, ref)
    fields[slots["description"]] = _description(settings.tenant_id, ref)
    return PreparedJob(id=job_id, key=Job.key_for(job_id), fields=tuple(fields))
