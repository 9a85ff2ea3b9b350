"""One dequeued drain job from rq's start to its end: success, retry, dead letter or hand-back.

`JobRunner.run_job` owns the job's conversation right after the dequeue (`DrainRun.acquire`),
runs rq's start transition (`RqBridge.astart`, or rq's own threaded path for a job with
dependents), the drain itself, and rq's success/failure/hand-back transitions. Jobs popped while
Redis failed are remembered in `InFlight.unstarted` for the dequeue loop to requeue. The worker's
jobs in progress are one `InFlight`, shared with the dequeue loop, rq commands and heartbeats.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis
from rq.job import Job

from supportbot import keyspace
from supportbot.queueing import rqjobs
from supportbot.queueing.adapters.rqbridge import JobSlot, RqBridge
from supportbot.queueing.drain import DrainContext, DrainOutcome, DrainRun, HandBack, LeaseLost
from supportbot.queueing.mailbox import Mailbox
from supportbot.queueing.metrics import WorkerMetrics
from supportbot.queueing.transient import REDIS_TRANSIENT

log = logging.getLogger(__name__)
T = TypeVar("T")


class ForeignJobError(RuntimeError):
    """A job on our queue is not a drain job of this tenant."""


class Bookkeeping:
    """rq's sync bookkeeping calls, run on a small thread pool."""

    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(threads, "rq-bookkeeping")

    async def call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kw))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass(slots=True)
class InFlight:
    """The worker's jobs in progress."""

    jobs: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    drains: dict[str, asyncio.Task[DrainOutcome]] = field(default_factory=dict)
    slots: dict[str, JobSlot] = field(default_factory=dict)
    """rq's per-job state of each started job (heartbeated in batches)."""
    stop_job_ids: set[str] = field(default_factory=set)
    """Jobs cancelled by rq's stop-job command."""
    unstarted: dict[str, str | None] = field(default_factory=dict)
    """Jobs popped but not started because Redis failed: job id -> lease token held."""


class JobRunner:
    """Runs each dequeued job to its end; releases the job's worker slot when done."""

    def __init__(
        self,
        ctx: DrainContext,
        redis_client: aioredis.Redis,
        bridge: RqBridge,
        bookkeeping: Bookkeeping,
        in_flight: InFlight,
        capacity: asyncio.Semaphore,
    ) -> None:
        self._ctx = ctx
        self.redis = redis_client
        self.bridge = bridge
        self._bookkeeping = bookkeeping
        self._in_flight = in_flight
        self._capacity = capacity

    @property
    def _mailbox(self) -> Mailbox:
        return self._ctx.mailbox

    @property
    def _metrics(self) -> WorkerMetrics:
        return self._ctx.metrics

    def _drain_args(self, job: Job) -> str:
        args = tuple(job.args)
        if job.func_name != rqjobs.DRAIN_FUNC or len(args) != 2:
            raise ForeignJobError(f"job {job.id} is not a supportbot drain job")
        if args[0] != self._ctx.settings.tenant_id:
            raise ForeignJobError(f"job {job.id} belongs to tenant {args[0]!r}")
        return str(args[1])

    async def run_job(self, job_id: str) -> None:
        self._metrics.jobs_in_flight.inc()
        popped = time.monotonic()
        ref = keyspace.ref_of_job_id(job_id)
        early = DrainRun(self._ctx, job_id, ref) if ref is not None else None
        started = False
        try:
            if early is not None:
                # Own the conversation before rq's bookkeeping, which may wait for a thread:
                # from here on the lease keeper keeps it, so no wait can let it be taken over.
                await early.acquire()
            fetched = await self.bridge.afetch(self.redis, job_id)
            if fetched is None:
                return
            job, has_dependents = fetched
            if has_dependents:  # not a drain job's shape: rq's own path, WATCH included
                slot = await self._bookkeeping.call(self.bridge.start, job)
            else:
                slot = await self.bridge.astart(self.redis, job)
            waited = time.monotonic() - popped
            if waited > 5:
                log.warning(
                    "job %s waited %.1fs for rq bookkeeping before starting", job_id, waited
                )
            self._in_flight.slots[job_id] = slot
            started = True
            await self._perform(slot, early)
        except REDIS_TRANSIENT as exc:
            if started:
                log.error("job %s lost Redis mid-way (%s): the sweeper resumes it", job_id, exc)
            else:  # popped, never started: put it back ourselves once Redis answers again
                token = early.token if early is not None and early.owned else None
                self._in_flight.unstarted[job_id] = token
                log.warning("job %s popped as Redis failed: it will be requeued", job_id)
        except Exception:
            log.exception("bookkeeping of job %s failed; rq maintenance will recover it", job_id)
        finally:
            if early is not None and not started:
                if job_id in self._in_flight.unstarted:
                    early.release()  # the requeue hands its lease back to the job
                else:
                    await self._abandon(early)
            self._in_flight.slots.pop(job_id, None)
            self._in_flight.jobs.pop(job_id, None)
            self._metrics.jobs_in_flight.dec()
            self._capacity.release()

    async def _abandon(self, run: DrainRun) -> None:
        """Give back a conversation taken for a job that will not run (its rq job is gone)."""
        run.release()
        if not run.owned or run.lost():
            return
        try:
            await self._mailbox.finish(run.ref, run.token, run.job_id, ack=False)
        except Exception:
            log.exception("could not release conversation %s; the sweeper will resume it", run.ref)

    async def _perform(self, slot: JobSlot, early: DrainRun | None = None) -> None:
        job_id = slot.job.id
        run: DrainRun | None = None
        try:
            ref = self._drain_args(slot.job)
            if early is not None and early.ref != ref:
                await self._abandon(early)
                raise ForeignJobError(f"job {job_id} names another conversation than its id")
            run = early or DrainRun(self._ctx, job_id, ref)
            drain = asyncio.create_task(run.run(), name=f"drain:{job_id}")
            self._in_flight.drains[job_id] = drain
            try:
                outcome = await drain
            finally:
                self._in_flight.drains.pop(job_id, None)
        except LeaseLost:
            outcome = DrainOutcome.LOST
        except (HandBack, asyncio.CancelledError) as exc:
            if job_id in self._in_flight.stop_job_ids:  # `rq` stop-job command
                self._in_flight.stop_job_ids.discard(job_id)
                await self._failed(slot, run, exc, stopped=True)
            elif self._ctx.stopping.is_set():
                await self._hand_back(slot, run)
            else:
                await self._failed(slot, run, exc, stopped=False)
            return
        except Exception as exc:
            await self._failed(slot, run, exc, stopped=False)
            return
        if slot.recorded:
            await self.bridge.asucceed(self.redis, slot, outcome.value)
        else:
            await self._bookkeeping.call(self.bridge.succeed, slot, outcome.value)
        self._metrics.jobs_total.labels(result=outcome.value).inc()

    async def _hand_back(self, slot: JobSlot, run: DrainRun | None) -> None:
        if run is not None and run.owned:
            try:
                await self._mailbox.park(run.ref, run.token, run.job_id)
            except Exception:
                log.exception("could not park conversation %s; the sweeper will resume it", run.ref)
        await self._bookkeeping.call(self.bridge.hand_back, slot)
        self._metrics.jobs_total.labels(result="handed_back").inc()

    async def _failed(
        self, slot: JobSlot, run: DrainRun | None, exc: BaseException, *, stopped: bool
    ) -> None:
        will_retry = slot.job.should_retry and not stopped
        if run is not None and run.owned:
            try:
                if will_retry:
                    await self._mailbox.park(run.ref, run.token, run.job_id)
                else:
                    reason = f"{type(exc).__name__}: {exc}"
                    await self._mailbox.dead_letter(run.ref, run.token, run.job_id, reason)
            except Exception:
                log.exception("could not release conversation %s after a failure", run.ref)
        exc_info = (type(exc), exc, exc.__traceback__)
        await self._bookkeeping.call(self.bridge.fail, slot, exc_info, stopped=stopped)
        self._metrics.jobs_total.labels(result="retried" if will_retry else "failed").inc()
        if not will_retry:
            self._metrics.turns_total.labels(outcome="dead_lettered").inc()
