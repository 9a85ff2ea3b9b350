"""The operator's long-lived state inside kopf: API client, work queue, reconcile workers,
periodic resync, metrics, the probes and (with more than one replica) the Lease elector. kopf
handlers only feed the queue; workers reconcile, and only while this replica leads.

Created by the start-up handler, stored in kopf's operator `memo`, stopped by the cleanup
handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Iterable

from supportbot_operator.errors import KubeApiError
from supportbot_operator.flowcheck import FlowValidator, load_validator
from supportbot_operator.health import HealthServer, Snapshot
from supportbot_operator.kube import KubeApi
from supportbot_operator.leader import LeaderElector
from supportbot_operator.metrics import Metrics
from supportbot_operator.pacing import Pacer
from supportbot_operator.reconcile import Context, reconcile
from supportbot_operator.secretreader import ReferencedSecrets
from supportbot_operator.settings import OperatorSettings
from supportbot_operator.view import ClusterView
from supportbot_operator.workqueue import WorkQueue

log = logging.getLogger(__name__)

Key = tuple[str, str]
MAX_BACKOFF_SECONDS = 300.0


class Runtime:
    def __init__(
        self, settings: OperatorSettings, view: ClusterView, validate: FlowValidator | None = None
    ) -> None:
        self.settings = settings
        self.api = KubeApi(timeout=settings.request_timeout_seconds)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.ready = asyncio.Event()
        """Set once kopf delivered the first event (its indices are fully populated by then)."""
        self.metrics = Metrics(lambda: self.ctx.conditions)
        self.ctx = Context(
            settings=settings,
            api=self.api,
            view=view,
            validate=validate or load_validator(),
            metrics=self.metrics,
            pacer=Pacer(settings.max_rolling_tenants),
            wake=self.enqueue,
        )
        self.secrets = self._secret_reader(settings, view)
        self._failures: dict[Key, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.elector = self._elector(settings)
        self.leading = self.elector.leading if self.elector else asyncio.Event()
        """Set while this replica may reconcile (always, without leader election)."""
        self.health = HealthServer(self.snapshot)

    def _secret_reader(
        self, settings: OperatorSettings, view: ClusterView
    ) -> ReferencedSecrets | None:
        if settings.secret_access != "referenced":  # noqa: S105 - a mode
            return None
        reader = ReferencedSecrets(self.api)
        view.secrets = reader.index  # the view reads it like the watch index
        self.ctx.secret_reader = reader
        return reader

    def _secret_changed(self, namespace: str, bots: Iterable[str]) -> None:
        for bot in bots:
            self.enqueue((namespace, bot), self.settings.debounce_seconds)

    def _elector(self, settings: OperatorSettings) -> LeaderElector | None:
        if not settings.leader_election_lease:
            return None
        return LeaderElector(
            self.api,
            name=settings.leader_election_lease,
            namespace=settings.leader_election_namespace,
            identity=settings.leader_election_identity or f"{socket.gethostname()}_{uuid.uuid4()}",
            timing=settings.election_timing(),
            on_started=self._started_leading,
            on_stopped=self._stopped_leading,
        )

    def _started_leading(self) -> None:
        # The previous leader may have died mid-reconcile: every known tenant is checked again.
        self.metrics.leader.set(1)
        for key in self.ctx.view.bot_keys():
            self.queue.add(key)
        self.metrics.queue_depth.set(len(self.queue))

    def _stopped_leading(self) -> None:
        self.metrics.leader.set(0)

    def enqueue(self, key: Key, delay: float = 0.0) -> None:
        self.ready.set()
        self.queue.add(key, delay)
        self.metrics.queue_depth.set(len(self.queue))

    async def start(self) -> None:
        self.metrics.serve(self.settings.metrics_host, self.settings.metrics_port)
        if self.settings.liveness_port:
            await self.health.start(self.settings.metrics_host, self.settings.liveness_port)
        for i in range(self.settings.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"reconciler-{i}"))
        self._tasks.append(asyncio.create_task(self._resync(), name="resync"))
        if self.secrets is not None:
            poll = self.secrets.poll(
                self.ctx.view.secret_references,
                self._secret_changed,
                self.settings.secret_poll_seconds,
            )
            self._tasks.append(asyncio.create_task(poll, name="secret-poll"))
        if self.elector is not None:
            self._tasks.append(asyncio.create_task(self.elector.run(), name="leader-election"))
        else:
            self.leading.set()
            self.metrics.leader.set(1)

    def healthy(self) -> bool:
        return all(not t.done() for t in self._tasks)

    def snapshot(self) -> Snapshot:
        state = self.elector.state() if self.elector is not None else None
        return Snapshot(tasks_alive=self.healthy(), election=state, now=time.monotonic())

    async def stop(self) -> None:
        # Workers first, then the lease: nothing reconciles once a standby may have taken over.
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.elector is not None:
            await self.elector.release()
        await self.health.stop()
        await self.api.close()
        self.metrics.stop()

    async def _resync(self) -> None:
        await self.ready.wait()
        while True:
            await asyncio.sleep(self.settings.resync_seconds)
            for key in self.ctx.view.bot_keys():
                if key not in self._failures:  # failing tenants keep their backoff
                    self.queue.add(key)

    async def _work(self) -> None:
        while True:
            await self.leading.wait()
            key = await self.queue.get()
            if not self.leading.is_set():  # the lease was lost while waiting: keep it queued
                self.queue.done(key)
                self.queue.add(key)
                continue
            started = time.perf_counter()
            try:
                result = await reconcile(self.ctx, *key)
                self._failures.pop(key, None)
                self.metrics.reconciles.labels(result).inc()
                if result == "queued":  # woken when a slot frees; this is the safety net
                    self.queue.add(key, self.settings.rollout_recheck_seconds)
                self.metrics.rollouts_waiting.set(len(self.ctx.pacer.waiting))
            except KubeApiError as exc:
                self._retry(key, exc.reason or f"http{exc.status}", exc)
            except Exception as exc:  # a bug must not kill the worker
                log.exception("reconcile of %s/%s crashed", *key)
                self._retry(key, type(exc).__name__, exc)
            finally:
                self.metrics.duration.observe(time.perf_counter() - started)
                self.queue.done(key)
                self.metrics.queue_depth.set(len(self.queue))

    def _retry(self, key: Key, reason: str, exc: Exception) -> None:
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        delay = min(0.5 * 2**n, MAX_BACKOFF_SECONDS)
        self.metrics.reconciles.labels("error").inc()
        self.metrics.errors.labels(reason).inc()
        log.warning("reconcile of %s/%s failed (retry in %.1f s): %s", *key, delay, exc)
        self.queue.add(key, delay)
