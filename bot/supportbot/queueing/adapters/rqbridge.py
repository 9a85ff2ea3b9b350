"""rq bookkeeping for an asyncio worker that runs many jobs at once (sync; call via a thread).

rq's `BaseWorker` keeps one job's state on `self` (`execution`, `current_job_working_time`,
`_stopped_job_id`). To reuse rq's own transitions unchanged for many concurrent jobs, each job
gets a shallow copy of the registered worker (`JobSlot.view`): same name, key and connection, own
per-job state. Everything here is rq's code path: `prepare_execution` (Execution +
StartedJobRegistry), `prepare_job_execution` (STARTED, intermediate queue), `handle_job_success`
(FinishedJobRegistry, result TTL), `handle_job_failure` (`Retry`/`retries_left` or
FailedJobRegistry), worker birth/death/heartbeat and `clean_registries` (abandoned jobs).

The hot path (fetch, start, success) has async twins (`afetch`, `astart`, `asucceed`): the same rq
code runs on the event loop against `rqrecord.RecordingRedis` and its writes go out in one
MULTI/EXEC, so a job costs three async round trips instead of ~7 blocking ones in threads.
Failure, retry and hand-back stay on rq's sync path (rare). A job with dependents (drain jobs
never have any) takes rq's sync path all the way, WATCH included.
"""

from __future__ import annotations

import copy
import logging
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import redis
import redis.asyncio as aioredis
from rq.command import parse_payload
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.utils import now
from rq.worker.base import BaseWorker, WorkerStatus

from supportbot.queueing.adapters import rqrecord
from supportbot.queueing.rqjobs import RESULT_TTL_SECONDS

log = logging.getLogger(__name__)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
HEARTBEAT_BATCH = 100


class RqWorker(BaseWorker):
    """The rq identity of an asyncio worker process (`rq info` lists it like any worker)."""

    def __init__(self, *args: Any, on_command: Callable[[dict[str, Any]], None], **kw: Any):
        super().__init__(*args, **kw)
        self._on_command = on_command

    def execute_job(self, job: Job, queue: Queue) -> None:  # pragma: no cover - not used
        raise NotImplementedError("jobs run in supportbot.queueing.worker.AsyncWorker")

    def handle_payload(self, message: dict[str, Any]) -> None:
        """rq pubsub commands (shutdown, stop-job, kill-horse) go to the event loop."""
        self._on_command(parse_payload(message))


@dataclass
class JobSlot:
    job: Job
    view: BaseWorker
    started: float = field(default_factory=time.monotonic)
    recorded: bool = False
    """Started through `astart`: success may take `asucceed`."""


class RqBridge:
    """Sync rq operations of one worker on one queue."""

    def __init__(
        self,
        connection: redis.Redis,
        queue_name: str,
        worker_name: str,
        *,
        monitoring_interval: int,
        on_command: Callable[[dict[str, Any]], None],
    ) -> None:
        self.connection = connection
        self.queue = Queue(queue_name, connection=connection)
        self.worker = RqWorker(
            [self.queue],
            name=worker_name,
            connection=connection,
            default_result_ttl=RESULT_TTL_SECONDS,
            job_monitoring_interval=monitoring_interval,
            on_command=on_command,
        )
        self.registry = StartedJobRegistry(queue=self.queue)
        # One recorder serves every job: rq's code runs between two awaits, never interleaved.
        self._recorder = rqrecord.RecordingRedis()
        self._recording_queue = Queue(queue_name, connection=self._recorder)
        self._recording_registry = StartedJobRegistry(queue=self._recording_queue)

    @property
    def intermediate_key(self) -> str:
        return str(self.queue.intermediate_queue_key)

    def birth(self) -> None:
        self.worker.register_birth()  # type: ignore[no-untyped-call]
        self.worker.subscribe()  # type: ignore[no-untyped-call]
        self.worker.set_state(WorkerStatus.STARTED)

    def death(self) -> None:
        try:
            self.worker.register_death()  # type: ignore[no-untyped-call]
        finally:
            self.worker.unsubscribe()  # type: ignore[no-untyped-call]

    def fetch(self, job_id: str) -> Job | None:
        try:
            return Job.fetch(job_id, connection=self.connection)
        except NoSuchJobError:
            self.connection.lrem(self.intermediate_key, 1, job_id)
            return None

    def _view(self) -> BaseWorker:
        view = copy.copy(self.worker)
        view.execution = None
        view.current_job_working_time = 0
        view._stopped_job_id = None
        return view

    def start(self, job: Job) -> JobSlot:
        view = self._view()
        view.prepare_execution(job)
        view.prepare_job_execution(job, remove_from_intermediate_queue=True)
        job.started_at = now()
        return JobSlot(job, view)

    def succeed(self, slot: JobSlot, result: Any) -> None:
        job, view = slot.job, slot.view
        view.handle_execution_ended(job, self.queue, job.success_callback_timeout)
        job._result = result
        job._status = JobStatus.FINISHED
        view.handle_job_success(job=job, queue=self.queue, started_job_registry=self.registry)

    # --- async twins of the hot path (see the module docstring) -------------------------
    async def afetch(self, client: aioredis.Redis, job_id: str) -> tuple[Job, bool] | None:
        """The job and whether it has dependents, in one round trip; None if it is gone."""
        job = Job(job_id, connection=self.connection)
        async with client.pipeline(transaction=False) as pipe:
            pipe.hgetall(job.key)
            pipe.scard(job.dependents_key)
            data, dependents = await pipe.execute()
        if not data:
            await client.lrem(self.intermediate_key, 1, job_id)
            return None
        job.restore(data)
        return job, int(dependents) > 0

    async def astart(self, client: aioredis.Redis, job: Job) -> JobSlot:
        """`start` in one MULTI/EXEC."""
        view = self._view()
        recorder = self._recorder
        view.connection = recorder
        try:
            view.prepare_execution(job)
            view.prepare_job_execution(job, remove_from_intermediate_queue=True)
        finally:
            commands = recorder.take()  # also discards a half-recorded transition
            view.connection = self.connection
        job.started_at = now()
        await rqrecord.send(client, commands)
        return JobSlot(job, view, recorded=True)

    async def asucceed(self, client: aioredis.Redis, slot: JobSlot, result: Any) -> None:
        """`succeed` in one MULTI/EXEC (no dependents: checked when the job was fetched)."""
        job, view = slot.job, slot.view
        recorder = self._recorder
        recorder.expect(job.dependents_key, ())
        view.connection, job.connection = recorder, recorder
        try:
            view.handle_execution_ended(job, self.queue, job.success_callback_timeout)
            job._result = result
            job._status = JobStatus.FINISHED
            view.handle_job_success(
                job=job, queue=self._recording_queue, started_job_registry=self._recording_registry
            )
        finally:
            commands = recorder.take()
            view.connection, job.connection = self.connection, self.connection
        await rqrecord.send(client, commands)

    def fail(self, slot: JobSlot, exc_info: ExcInfo, *, stopped: bool = False) -> None:
        """rq's failure path: `Retry` (requeue, retries_left - 1) or FailedJobRegistry."""
        job, view = slot.job, slot.view
        if stopped:
            view._stopped_job_id = job.id
        job._status = JobStatus.FAILED
        view.handle_execution_ended(job, self.queue, job.failure_callback_timeout)
        exc_string = "".join(traceback.format_exception(*exc_info))
        view.handle_exception(job, *exc_info)
        view.handle_job_failure(
            job=job, queue=self.queue, started_job_registry=self.registry, exc_string=exc_string
        )

    def hand_back(self, slot: JobSlot) -> None:
        """Shutdown: end the execution and put the job back at the front of its queue."""
        job, view = slot.job, slot.view
        with self.connection.pipeline() as pipe:
            view.cleanup_execution(job, pipeline=pipe)
            job.started_at = None
            job.worker_name = None
            self.queue._enqueue_job(job, pipeline=pipe, at_front=True)
            pipe.execute()

    def heartbeat(self, slots: Iterable[JobSlot], busy: bool) -> None:
        """Worker + every in-flight execution, in pipelines of HEARTBEAT_BATCH."""
        interval = self.worker.job_monitoring_interval
        batch: list[tuple[JobSlot, Execution]] = []

        def flush(pipe: Any) -> None:
            for slot, execution in batch:
                elapsed = time.monotonic() - slot.started
                left = (slot.job.timeout or interval) - elapsed
                ttl = int(max(0, min(left, interval))) + 60
                execution.heartbeat(self.registry, ttl, pipeline=pipe)
                slot.job.heartbeat(now(), ttl, pipeline=pipe, xx=True)
            pipe.execute()
            batch.clear()

        with self.connection.pipeline() as pipe:
            self.worker.heartbeat(interval + 60, pipeline=pipe)
            self.worker.set_state(WorkerStatus.BUSY if busy else WorkerStatus.IDLE, pipeline=pipe)
            for slot in slots:
                execution = slot.view.execution  # read once: a finishing job may clear it
                if execution is None:
                    continue
                batch.append((slot, execution))
                if len(batch) >= HEARTBEAT_BATCH:
                    flush(pipe)
            flush(pipe)

    def maintain(self) -> None:
        """rq maintenance under rq's lock: abandoned jobs, stuck intermediate jobs, dead workers."""
        self.worker.clean_registries()  # type: ignore[no-untyped-call]

    def queue_depth(self) -> int:
        return int(self.queue.count)
