"""The Lease elector: the I/O half of `election` (GET, create, optimistic PUT of one Lease).

One asyncio task per process. While it leads, `leading` is set and the reconcile workers run;
a standby keeps its kopf watches and indices warm, so taking over is one Lease write plus a
resync of every tenant. `state()` feeds the health endpoints (`health`).

RBAC: `get` and `update` on this one Lease (`resourceNames`), in the operator's own namespace;
the Helm chart creates the Lease, so the operator needs no `create` (it tries only when the
Lease is missing and says so when refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from supportbot_operator import election
from supportbot_operator.election import ElectionTiming, LeaseRecord, Observation
from supportbot_operator.errors import KubeApiError
from supportbot_operator.kube import KubeApi

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ElectionState:
    """A snapshot for the probes: who leads and how fresh our view of the Lease is."""

    identity: str
    leading: bool
    holder: str
    last_ok: float | None
    """Monotonic time of the last attempt that completed without an API error."""
    last_attempt: float | None
    last_error: str
    timing: ElectionTiming
    started: float
    """Monotonic time the elector was created."""


class LeaderElector:
    def __init__(
        self,
        api: KubeApi,
        *,
        name: str,
        namespace: str,
        identity: str,
        timing: ElectionTiming,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
    ) -> None:
        self.api = api
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.timing = timing
        self.leading = asyncio.Event()
        self._on_started = on_started
        self._on_stopped = on_stopped
        self._observed: Observation | None = None
        self._last_renewed = 0.0
        self._last_ok: float | None = None
        self._last_attempt: float | None = None
        self._last_error = ""
        self._started = time.monotonic()
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._path = f"{self._collection}/{name}"

    def state(self) -> ElectionState:
        return ElectionState(
            identity=self.identity,
            leading=self.leading.is_set(),
            holder=self._observed.record.holder if self._observed else "",
            last_ok=self._last_ok,
            last_attempt=self._last_attempt,
            last_error=self._last_error,
            timing=self.timing,
            started=self._started,
        )

    async def run(self) -> None:
        """Acquire, renew, and fall back to candidate when the lease is lost; forever."""
        log.info("leader election: %s is a candidate for lease %s/%s", *self._who())
        while True:
            held = await self._attempt()
            now = time.monotonic()
            step, why = election.transition(
                leading=self.leading.is_set(),
                held=held,
                holder=self._observed.record.holder if self._observed else "",
                me=self.identity,
                last_renewed=self._last_renewed,
                timing=self.timing,
                now=now,
            )
            if held:
                self._last_renewed = now
            if step == "start":
                self.leading.set()
                log.info("leader election: %s acquired lease %s/%s", *self._who())
                self._on_started()
            elif step == "stop":
                self.leading.clear()
                log.warning("leader election: %s stopped leading (%s)", self.identity, why)
                self._on_stopped()
            delay = self.timing.retry_period
            if not self.leading.is_set():  # candidates spread their retries (client-go: 1.2)
                delay = election.jittered(delay, random.random())  # noqa: S311
            await asyncio.sleep(delay)

    async def release(self) -> None:
        """Give the lease up on a clean shutdown (client-go's ReleaseOnCancel)."""
        if not self.leading.is_set():
            return
        self.leading.clear()
        with contextlib.suppress(KubeApiError, TimeoutError):
            await asyncio.wait_for(self._release(), self.timing.retry_period * 2)
            log.info("leader election: %s released lease %s/%s", *self._who())

    async def _release(self) -> None:
        lease = await self.api.get(self._path)
        if lease is None or LeaseRecord.of(lease).holder != self.identity:
            return
        record = election.released(LeaseRecord.of(lease), election.wall_now())
        version = lease["metadata"].get("resourceVersion")
        body = election.lease_body(self.name, self.namespace, record, version)
        await self.api.request("PUT", self._path, body=body)

    def _who(self) -> tuple[str, str, str]:
        return self.identity, self.namespace, self.name

    async def _attempt(self) -> bool:
        """One tryAcquireOrRenew, bounded by renewDeadline; True when we hold the lease."""
        try:
            held = await asyncio.wait_for(self._acquire_or_renew(), self.timing.renew_deadline)
        except (KubeApiError, TimeoutError) as exc:
            if not self._last_error:
                log.warning("leader election: lease %s/%s: %s", self.namespace, self.name, exc)
            self._last_error = str(exc) or type(exc).__name__
            return False
        finally:
            self._last_attempt = time.monotonic()
        if self._last_error:
            log.info("leader election: lease %s/%s answers again", self.namespace, self.name)
        self._last_error = ""
        self._last_ok = time.monotonic()
        return held

    async def _acquire_or_renew(self) -> bool:
        lease = await self.api.get(self._path)
        if lease is None:
            record = election.claim(
                LeaseRecord(), self.identity, self.timing.lease_duration, election.wall_now()
            )
            body = election.lease_body(self.name, self.namespace, record, None)
            await self.api.request("POST", self._collection, body=body)
            self._observed = Observation(record, time.monotonic())
            return True
        current = LeaseRecord.of(lease)
        now = time.monotonic()
        previous = self._observed
        self._observed = election.observe(previous, current, now)
        if previous is not None and previous.record.holder != current.holder:
            log.info(
                "leader election: lease %s/%s holder is now %r", *self._who()[1:], current.holder
            )
        if election.held_by_another(self._observed, self.identity, now):
            return False
        record = election.claim(
            current, self.identity, self.timing.lease_duration, election.wall_now()
        )
        version = lease["metadata"].get("resourceVersion")
        body = election.lease_body(self.name, self.namespace, record, version)
        updated = await self.api.request("PUT", self._path, body=body)
        self._observed = Observation(LeaseRecord.of(updated), time.monotonic())
        return True
