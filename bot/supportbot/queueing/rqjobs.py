"""A drain job's identity: the function rq records for it, its retries and lifetimes.

`DRAIN_FUNC` names `drain_conversation` in this module, and every drain job hash in Redis (and
`AsyncWorker`'s check of a dequeued job) carries that name, so the function stays here: queued
jobs outlive a deploy. How a job hash is built from these is rq's business and lives in
`queueing.adapters.jobhash`.
"""

from __future__ import annotations

import math

from supportbot.settings import BotSettings

DRAIN_FUNC = "supportbot.queueing.rqjobs.drain_conversation"
DRAIN_RETRIES = 3
"""rq `Retry(max=...)` of every drain job: a failing turn runs at most 1 + this many times."""
RESULT_TTL_SECONDS = 300
FAILURE_TTL_SECONDS = 7 * 86_400


class DrainJobError(RuntimeError):
    """A drain job was executed by something other than the supportbot worker."""


def drain_conversation(tenant_id: str, ref: str) -> None:
    """The function rq records for drain jobs; only `supportbot worker` can run them."""
    raise DrainJobError(
        f"drain job for {tenant_id}/{ref} must run in `supportbot worker`, not a plain rq worker"
    )


def job_timeout_seconds(settings: BotSettings) -> int:
    """rq's `timeout` of a drain job: one turn plus its coalescing wait."""
    return math.ceil(settings.turn_timeout_seconds + settings.coalesce_max_wait_seconds) + 5


def pending_lease_ms(settings: BotSettings) -> int:
    """How long a queued (not yet running) drain keeps the conversation before the sweeper
    may assume it lost and enqueue another one."""
    return int(max(settings.lease_seconds * 10, 300.0) * 1000)
