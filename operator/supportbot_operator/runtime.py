"""The operator's long-lived state inside kopf: API client, work queue, reconcile workers,
periodic resync and metrics. kopf handlers only feed the queue; workers reconcile.

Created by the start-up handler, stored in kopf's operator `memo`, stopped by the cleanup
handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from supportbot_operator.errors import KubeApiError
from supportbot_operator.flowcheck import FlowValidator, load_validator
from supportbot_operator.kube import KubeApi
from supportbot_operator.metrics import Metrics
from supportbot_operator.reconcile import Context, reconcile
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
        )
        self._failures: dict[Key, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def enqueue(self, key: Key, delay: float = 0.0) -> None:
        self.ready.set()
        self.queue.add(key, delay)
        self.metrics.queue_depth.set(len(self.queue))

    def start(self) -> None:
        self.metrics.serve(self.settings.metrics_host, self.settings.metrics_port)
        for i in range(self.settings.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"reconciler-{i}"))
        self._tasks.append(asyncio.create_task(self._resync(), name="resync"))

    def healthy(self) -> bool:
        return all(not t.done() for t in self._tasks)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
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
            key = await self.queue.get()
            started = time.perf_counter()
            try:
                result = await reconcile(self.ctx, *key)
                self._failures.pop(key, None)
                self.metrics.reconciles.labels(result).inc()
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
