"""The asyncio worker: many drain jobs at once in one process, with rq's semantics.

`AsyncWorker` is the process's lifecycle and dequeue loop; each job runs in `jobrunner`, the
periodic duties in `upkeep`, rq's bookkeeping in `adapters.rqbridge`.

- rq identity: birth/death, worker hash + heartbeats, pubsub commands (`RqBridge`).
- Dequeue: BLMOVE queue -> rq's intermediate queue on `redis.asyncio`, after taking one of
  `worker_concurrency` slots (backpressure); short timeout, so stopping never loses a popped id.
- Per job (`jobrunner.JobRunner`): the conversation's lease is taken right after the dequeue
  (`DrainRun.acquire`) and kept alive by the `LeaseKeeper` (batched renewals on its own
  connection) from then on, so no wait (a busy Redis pool) can let another drain take it over;
  then rq's start and success transitions run rq's own code on the loop with their writes sent
  in one MULTI/EXEC each (`rqbridge.astart`/`asucceed`, `rqrecord`); failure/retry/hand-back run
  rq's code in a thread pool; turns time out via `asyncio.timeout`.
- Heartbeats of in-flight executions (batched), queue metrics and rq maintenance (`upkeep`).
- Pressure probes (`pressure`): event-loop lag and Redis latency/pool occupancy, as metrics.
- The conversation sweeper (`sweeper`).
- Redis durability (`persistence`, via `upkeep`): read at start and every minute; a Redis
  without AOF logs a warning, sets ``supportbot_redis_persistence_durable`` to 0 and is named in
  ``/healthz``.
- Shutdown: first SIGTERM/SIGINT stops dequeuing and gives in-flight turns
  `shutdown_grace_seconds`; then (or on a second signal) unfinished drains are cancelled and
  handed back: messages stay in the mailbox, the lease is parked for the job, and the job goes
  back to the front of the queue for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

from supportbot import keyspace, retrying
from supportbot.messages import TurnHandler
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.adapters.rqbridge import RqBridge
from supportbot.queueing.drain import DrainContext
from supportbot.queueing.jobrunner import Bookkeeping, InFlight, JobRunner
from supportbot.queueing.leases import LeaseKeeper
from supportbot.queueing.mailbox import Mailbox
from supportbot.queueing.metrics import WorkerMetrics
from supportbot.queueing.pressure import probe_loop
from supportbot.queueing.sweeper import sweep_loop
from supportbot.queueing.transient import REDIS_TRANSIENT
from supportbot.queueing.upkeep import Upkeep
from supportbot.settings import BotSettings

log = logging.getLogger(__name__)
DEQUEUE_MAX_BACKOFF_SECONDS = 5.0
"""Longest pause between dequeue attempts while Redis fails: how late work resumes after."""


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
        self._in_flight = InFlight()
        self._bookkeeping = Bookkeeping(self.tuning.bookkeeping_threads)
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
        self._runner: JobRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def bridge(self) -> RqBridge:
        assert self._bridge is not None, "worker not started"
        return self._bridge

    @property
    def runner(self) -> JobRunner:
        assert self._runner is not None, "worker not started"
        return self._runner

    # --- lifecycle ------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        sync = redis.Redis.from_url(self.settings.redis_url)
        self._bridge = await self._bookkeeping.call(
            RqBridge,
            sync,
            self.settings.queue_name,
            self.name,
            monitoring_interval=self.tuning.monitoring_interval,
            on_command=self._command_from_thread,
        )
        self._runner = JobRunner(
            self._ctx, self.redis, self.bridge, self._bookkeeping, self._in_flight, self._slots
        )
        upkeep = Upkeep(
            self.settings,
            self.redis,
            self.bridge,
            self._bookkeeping,
            self.metrics,
            self._in_flight,
            self._closing,
            monitoring_interval=self.tuning.monitoring_interval,
            maintenance_interval=self.tuning.maintenance_interval,
        )
        await self._bookkeeping.call(self.bridge.birth)
        log.info("worker %s started on %s", self.name, self.settings.queue_name)
        self._install_signals()
        background = [
            asyncio.create_task(upkeep.heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(upkeep.maintenance_loop(), name="maintenance"),
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
            await self._bookkeeping.call(self.bridge.death)
            self._bookkeeping.shutdown()
            sync.close()
            await self._lease_redis.aclose()
            log.info("worker %s stopped", self.name)

    def request_stop(self) -> None:
        if self.stopping.is_set():
            log.warning("second stop request: handing back unfinished turns now")
            self._force.set()
            return
        log.info("warm shutdown: no new jobs; %d in flight", len(self._in_flight.jobs))
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
            drain = self._in_flight.drains.get(job_id)
            if drain is not None:
                self._in_flight.stop_job_ids.add(job_id)
                drain.cancel()
        else:
            log.info("ignoring rq command %r", command)

    async def _wind_down(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_grace_seconds
        forced = asyncio.create_task(self._force.wait())
        try:
            while self._in_flight.jobs and not forced.done() and loop.time() < deadline:
                await asyncio.wait(
                    [*self._in_flight.jobs.values(), forced],
                    timeout=deadline - loop.time(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            forced.cancel()
        if self._in_flight.drains:
            log.warning("handing back %d unfinished drain(s)", len(self._in_flight.drains))
        for drain in list(self._in_flight.drains.values()):
            drain.cancel()
        if self._in_flight.jobs:
            await asyncio.wait(list(self._in_flight.jobs.values()), timeout=30)

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
        queue_key = jobhash.queue_key(self.settings.queue_name)
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
            if self._in_flight.unstarted:
                await self._requeue_unstarted()
            if raw is None:
                self._slots.release()
                continue
            job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            self._in_flight.jobs[job_id] = asyncio.create_task(
                self.runner.run_job(job_id), name=f"job:{job_id}"
            )

    async def _requeue_unstarted(self) -> None:
        """Redis answers again: jobs popped while it failed go back to the front of the queue
        (rq's own intermediate-queue cleanup would take one to two maintenance rounds)."""
        for job_id, token in list(self._in_flight.unstarted.items()):
            ref = keyspace.ref_of_job_id(job_id)
            try:
                if ref is None:
                    await self.redis.lrem(self.bridge.intermediate_key, 1, job_id)
                    await self.redis.lpush(jobhash.queue_key(self.settings.queue_name), job_id)
                else:
                    await self.mailbox.requeue(ref, job_id, token, self.bridge.intermediate_key)
            except REDIS_TRANSIENT:
                return  # still failing: the next successful dequeue tries again
            del self._in_flight.unstarted[job_id]
            log.info("job %s requeued after a Redis failure", job_id)
