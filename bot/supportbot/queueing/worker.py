"""The asyncio worker: many drain jobs at once in one process, with rq's semantics.

- rq identity: birth/death, worker hash + heartbeats, pubsub commands (`RqBridge`).
- Dequeue: BLMOVE queue -> rq's intermediate queue on `redis.asyncio`, after taking one of
  `worker_concurrency` slots (backpressure); short timeout, so stopping never loses a popped id.
- Per job: the conversation's lease is taken right after the dequeue (`DrainRun.acquire`) and
  kept alive by the `LeaseKeeper` (batched renewals on its own connection) from then on, so no
  wait (a busy Redis pool) can let another drain take it over; then rq's start and success
  transitions run rq's own code on the loop with their writes sent in one MULTI/EXEC each
  (`rqbridge.astart`/`asucceed`, `rqrecord`); failure/retry/hand-back run rq's code in a thread
  pool; in-flight
  executions are heartbeated in batches; turns time out via `asyncio.timeout`.
- Pressure probes (`pressure`): event-loop lag and Redis latency/pool occupancy, as metrics.
- Maintenance: rq's `clean_registries` (abandoned jobs) and the conversation sweeper.
- Redis durability (`persistence`): read at start and every minute; a Redis without AOF logs a
  warning, sets ``supportbot_redis_persistence_durable`` to 0 and is named in ``/healthz``.
- Shutdown: first SIGTERM/SIGINT stops dequeuing and gives in-flight turns
  `shutdown_grace_seconds`; then (or on a second signal) unfinished drains are cancelled and
  handed back: messages stay in the mailbox, the lease is parked for the job, and the job goes
  back to the front of the queue for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from rq.job import Job

from supportbot import keyspace, retrying
from supportbot.messages import TurnHandler
from supportbot.queueing import rqjobs
from supportbot.queueing.drain import DrainContext, DrainOutcome, DrainRun, HandBack, LeaseLost
from supportbot.queueing.leases import LeaseKeeper
from supportbot.queueing.mailbox import Mailbox
from supportbot.queueing.metrics import WorkerMetrics
from supportbot.queueing.persistence import PersistenceWatch
from supportbot.queueing.pressure import probe_loop
from supportbot.queueing.rqbridge import JobSlot, RqBridge
from supportbot.queueing.sweeper import sweep_loop
from supportbot.queueing.transient import REDIS_TRANSIENT
from supportbot.settings import BotSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
DEQUEUE_MAX_BACKOFF_SECONDS = 5.0
"""Longest pause between dequeue attempts while Redis fails: how late work resumes after."""
PERSISTENCE_CHECK_SECONDS = 60.0
"""How often the worker re-reads Redis' persistence settings (a warning when not durable)."""


class ForeignJobError(RuntimeError):
    """A job on our queue is not a drain job of this tenant."""


@dataclass(frozen=True, slots=True)
class WorkerTuning:
    monitoring_interval: int = 10
    """Seconds between heartbeats of the worker and every in-flight execution."""
    maintenance_interval: float = 60.0
    """Seconds between rq registry maintenance runs (under rq's cross-worker lock)."""
    dequeue_timeout: int = 1
    bookkeeping_threads: int = 8


def worker_name(settings: BotSettings) -> str:
    host = socket.gethostname().replace(" ", "-")
    return f"sb-{settings.tenant_id}-{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class AsyncWorker:
    def __init__(
        self,
        settings: BotSettings,
        redis_client: aioredis.Redis,
        handler: TurnHandler,
        metrics: WorkerMetrics | None = None,
        tuning: WorkerTuning | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.metrics = metrics or WorkerMetrics()
        self.tuning = tuning or WorkerTuning()
        self.name = worker_name(settings)
        self.stopping = asyncio.Event()
        self._force = asyncio.Event()
        self._closing = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.worker_concurrency)
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._drains: dict[str, asyncio.Task[DrainOutcome]] = {}
        self._slots_by_job: dict[str, JobSlot] = {}
        self._stop_job_ids: set[str] = set()
        self._executor = ThreadPoolExecutor(self.tuning.bookkeeping_threads, "rq-bookkeeping")
        self.mailbox = Mailbox(redis_client, settings)
        # Renewals get their own connection: they must never wait behind turn traffic.
        timeout = max(settings.lease_seconds / 3, 0.5)  # a hung call must not stall fencing
        self._lease_redis = aioredis.Redis.from_url(
            settings.redis_url,
            max_connections=2,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self.keeper = LeaseKeeper(self._lease_redis, settings.lease_seconds, self.metrics)
        self._ctx = DrainContext(
            settings, self.mailbox, handler, self.metrics, self.stopping, self.keeper
        )
        self._bridge: RqBridge | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._persistence = PersistenceWatch("worker")
        self._unstarted: dict[str, str | None] = {}
        """Jobs popped but not started because Redis failed: job id -> lease token held."""

    async def _call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kw))

    @property
    def bridge(self) -> RqBridge:
        assert self._bridge is not None, "worker not started"
        return self._bridge

    # --- lifecycle ------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        sync = redis.Redis.from_url(self.settings.redis_url)
        self._bridge = await self._call(
            RqBridge,
            sync,
            self.settings.queue_name,
            self.name,
            monitoring_interval=self.tuning.monitoring_interval,
            on_command=self._command_from_thread,
        )
        await self._call(self.bridge.birth)
        log.info("worker %s started on %s", self.name, self.settings.queue_name)
        self._install_signals()
        background = [
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._maintenance_loop(), name="maintenance"),
            asyncio.create_task(self.keeper.run(self._closing), name="lease-keeper"),
            asyncio.create_task(
                probe_loop(self.redis, self.metrics, self._closing), name="pressure-probe"
            ),
            asyncio.create_task(
                sweep_loop(self.redis, self.mailbox, self.settings, self.metrics, self.stopping),
                name="sweeper",
            ),
        ]
        try:
            await self._dequeue_loop()
            await self._wind_down()
        finally:
            self._closing.set()
            for task in background:
                task.cancel()
            _, stuck = await asyncio.wait(background, timeout=10)
            if stuck:
                log.error("background task(s) did not stop: %s", [t.get_name() for t in stuck])
            self._remove_signals()
            await self._call(self.bridge.death)
            self._executor.shutdown(wait=False, cancel_futures=True)
            sync.close()
            await self._lease_redis.aclose()
            log.info("worker %s stopped", self.name)

    def request_stop(self) -> None:
        if self.stopping.is_set():
            log.warning("second stop request: handing back unfinished turns now")
            self._force.set()
            return
        log.info("warm shutdown: no new jobs; %d in flight", len(self._jobs))
        self.stopping.set()

    def _install_signals(self) -> None:
        assert self._loop is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(sig, self.request_stop)

    def _remove_signals(self) -> None:
        assert self._loop is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.remove_signal_handler(sig)

    def _command_from_thread(self, payload: dict[str, Any]) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._command, payload)

    def _command(self, payload: dict[str, Any]) -> None:
        command = payload.get("command")
        if command == "shutdown":
            self.request_stop()
        elif command == "stop-job":
            job_id = str(payload.get("job_id"))
            drain = self._drains.get(job_id)
            if drain is not None:
                self._stop_job_ids.add(job_id)
                drain.cancel()
        else:
            log.info("ignoring rq command %r", command)

    async def _wind_down(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_grace_seconds
        forced = asyncio.create_task(self._force.wait())
        try:
            while self._jobs and not forced.done() and loop.time() < deadline:
                await asyncio.wait(
                    [*self._jobs.values(), forced],
                    timeout=deadline - loop.time(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            forced.cancel()
        if self._drains:
            log.warning("handing back %d unfinished drain(s)", len(self._drains))
        for drain in list(self._drains.values()):
            drain.cancel()
        if self._jobs:
            await asyncio.wait(list(self._jobs.values()), timeout=30)

    # --- dequeue --------------------------------------------------------------------------
    async def _take_slot(self) -> bool:
        if not self._slots.locked():
            await self._slots.acquire()
            return True
        waiter = asyncio.create_task(self._slots.acquire())
        stopper = asyncio.create_task(self.stopping.wait())
        await asyncio.wait([waiter, stopper], return_when="FIRST_COMPLETED")
        stopper.cancel()
        if waiter.done():
            return True
        waiter.cancel()
        return False

    async def _dequeue_loop(self) -> None:
        queue_key = rqjobs.queue_key(self.settings.queue_name)
        failures = 0
        while not self.stopping.is_set():
            if not await self._take_slot():
                break
            if self.stopping.is_set():
                self._slots.release()
                break
            try:
                raw = await self.redis.blmove(
                    queue_key, self.bridge.intermediate_key, self.tuning.dequeue_timeout
                )
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                self._slots.release()
                # 1, 2, 4 ... seconds, capped; no jitter
                wait = retrying.exponential_ceiling(
                    min(failures, 30), 1.0, DEQUEUE_MAX_BACKOFF_SECONDS
                )
                failures += 1
                log.error("dequeue failed (%s); retrying in %.0fs", exc, wait)
                await asyncio.sleep(wait)
                continue
            except BaseException:
                self._slots.release()
                raise
            failures = 0
            if self._unstarted:
                await self._requeue_unstarted()
            if raw is None:
                self._slots.release()
                continue
            job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            self._jobs[job_id] = asyncio.create_task(self._run_job(job_id), name=f"job:{job_id}")

    async def _requeue_unstarted(self) -> None:
        """Redis answers again: jobs popped while it failed go back to the front of the queue
        (rq's own intermediate-queue cleanup would take one to two maintenance rounds)."""
        for job_id, token in list(self._unstarted.items()):
            ref = keyspace.ref_of_job_id(job_id)
            try:
                if ref is None:
                    await self.redis.lrem(self.bridge.intermediate_key, 1, job_id)
                    await self.redis.lpush(rqjobs.queue_key(self.settings.queue_name), job_id)
                else:
                    await self.mailbox.requeue(ref, job_id, token, self.bridge.intermediate_key)
            except REDIS_TRANSIENT:
                return  # still failing: the next successful dequeue tries again
            del self._unstarted[job_id]
            log.info("job %s requeued after a Redis failure", job_id)

    # --- one job --------------------------------------------------------------------------
    def _drain_args(self, job: Job) -> str:
        args = tuple(job.args)
        if job.func_name != rqjobs.DRAIN_FUNC or len(args) != 2:
            raise ForeignJobError(f"job {job.id} is not a supportbot drain job")
        if args[0] != self.settings.tenant_id:
            raise ForeignJobError(f"job {job.id} belongs to tenant {args[0]!r}")
        return str(args[1])

    async def _run_job(self, job_id: str) -> None:
        self.metrics.jobs_in_flight.inc()
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
                slot = await self._call(self.bridge.start, job)
            else:
                slot = await self.bridge.astart(self.redis, job)
            waited = time.monotonic() - popped
            if waited > 5:
                log.warning(
                    "job %s waited %.1fs for rq bookkeeping before starting", job_id, waited
                )
            self._slots_by_job[job_id] = slot
            started = True
            await self._perform(slot, early)
        except REDIS_TRANSIENT as exc:
            if started:
                log.error("job %s lost Redis mid-way (%s): the sweeper resumes it", job_id, exc)
            else:  # popped, never started: put it back ourselves once Redis answers again
                token = early.token if early is not None and early.owned else None
                self._unstarted[job_id] = token
                log.warning("job %s popped as Redis failed: it will be requeued", job_id)
        except Exception:
            log.exception("bookkeeping of job %s failed; rq maintenance will recover it", job_id)
        finally:
            if early is not None and not started:
                if job_id in self._unstarted:
                    early.release()  # the requeue hands its lease back to the job
                else:
                    await self._abandon(early)
            self._slots_by_job.pop(job_id, None)
            self._jobs.pop(job_id, None)
            self.metrics.jobs_in_flight.dec()
            self._slots.release()

    async def _abandon(self, run: DrainRun) -> None:
        """Give back a conversation taken for a job that will not run (its rq job is gone)."""
        run.release()
        if not run.owned or run.lost():
            return
        try:
            await self.mailbox.finish(run.ref, run.token, run.job_id, ack=False)
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
            self._drains[job_id] = drain
            try:
                outcome = await drain
            finally:
                self._drains.pop(job_id, None)
        except LeaseLost:
            outcome = DrainOutcome.LOST
        except (HandBack, asyncio.CancelledError) as exc:
            if job_id in self._stop_job_ids:  # `rq` stop-job command
                self._stop_job_ids.discard(job_id)
                await self._failed(slot, run, exc, stopped=True)
            elif self.stopping.is_set():
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
            await self._call(self.bridge.succeed, slot, outcome.value)
        self.metrics.jobs_total.labels(result=outcome.value).inc()

    async def _hand_back(self, slot: JobSlot, run: DrainRun | None) -> None:
        if run is not None and run.owned:
            try:
                await self.mailbox.park(run.ref, run.token, run.job_id)
            except Exception:
                log.exception("could not park conversation %s; the sweeper will resume it", run.ref)
        await self._call(self.bridge.hand_back, slot)
        self.metrics.jobs_total.labels(result="handed_back").inc()

    async def _failed(
        self, slot: JobSlot, run: DrainRun | None, exc: BaseException, *, stopped: bool
    ) -> None:
        will_retry = slot.job.should_retry and not stopped
        if run is not None and run.owned:
            try:
                if will_retry:
                    await self.mailbox.park(run.ref, run.token, run.job_id)
                else:
                    reason = f"{type(exc).__name__}: {exc}"
                    await self.mailbox.dead_letter(run.ref, run.token, run.job_id, reason)
            except Exception:
                log.exception("could not release conversation %s after a failure", run.ref)
        exc_info = (type(exc), exc, exc.__traceback__)
        await self._call(self.bridge.fail, slot, exc_info, stopped=stopped)
        self.metrics.jobs_total.labels(result="retried" if will_retry else "failed").inc()
        if not will_retry:
            self.metrics.turns_total.labels(outcome="dead_lettered").inc()

    # --- periodic -------------------------------------------------------------------------
    async def _check_persistence(self) -> None:
        try:
            state = await self._persistence.check(self.redis)
        except Exception as exc:
            log.warning("could not read Redis persistence settings: %s", type(exc).__name__)
            return
        self.metrics.redis_durable.set(1 if state.durable else 0)
        self.metrics.redis_persistence = state.describe()

    async def _heartbeat_loop(self) -> None:
        queue_key = rqjobs.queue_key(self.settings.queue_name)
        next_persistence_check = 0.0
        while not self._closing.is_set():
            if time.monotonic() >= next_persistence_check:
                await self._check_persistence()
                next_persistence_check = time.monotonic() + PERSISTENCE_CHECK_SECONDS
            try:
                slots = list(self._slots_by_job.values())
                await self._call(self.bridge.heartbeat, slots, busy=bool(self._jobs))
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.llen(queue_key)
                    pipe.scard(keyspace.active_key(self.settings.tenant_id))
                    pipe.llen(keyspace.dead_letter_key(self.settings.tenant_id))
                    depth, pending, dead = await pipe.execute()
                self.metrics.queue_depth.set(int(depth))
                self.metrics.conversations_pending.set(int(pending))
                self.metrics.dead_letters.set(int(dead))
                oldest = await rqjobs.head_age_seconds(self.redis, self.settings.queue_name)
                self.metrics.queue_oldest_age.set(oldest)
                self.metrics.beat()
            except Exception:
                log.exception("heartbeat failed")
            await self._pause(self.tuning.monitoring_interval)

    async def _maintenance_loop(self) -> None:
        while not self._closing.is_set():
            try:
                await self._call(self.bridge.maintain)
            except Exception:
                log.exception("rq maintenance failed")
            await self._pause(self.tuning.maintenance_interval)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up (and let the loop end) when the worker closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
