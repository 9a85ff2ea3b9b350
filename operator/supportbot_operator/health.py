"""The operator's probes, `/healthz` (liveness) and `/readyz` (readiness), on the health port.

The verdicts are pure functions of a snapshot; the server only serves them (aiohttp, which
kopf brings). kopf's own `--liveness` endpoint is not used: it has one path, caches results for
10 s and knows nothing about the Lease.

- **alive** (`/healthz`, a failure restarts the pod): every reconcile worker and the resync task
  run, the elector is not wedged (an attempt ended within `renewDeadline` + a jittered
  `retryPeriod`; each attempt is bounded by `renewDeadline`), and the Lease answered within
  `3 x leaseDuration` (45 s by default). That last one is deliberate: a replica that cannot
  reconcile for that long gets a fresh process, connection and token (controller-runtime exits
  on a lost lease for the same reason); a short API blip only costs readiness.
- **ready** (`/readyz`, a failure takes the pod out of the webhook Service and holds a rollout):
  alive, and able to reconcile: without election, always; with election, the last Lease
  round trip (read, and write when the lease was ours to take) succeeded within that same
  bound, whether this replica leads or stands by. A replica that cannot reach the API server or
  is refused the Lease (RBAC) is not ready, and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from supportbot_operator import election
from supportbot_operator.leader import ElectionState

LIVENESS_LEASES = 3
"""Lease durations without a Lease round trip after which the process is restarted."""


@dataclass(frozen=True)
class Snapshot:
    tasks_alive: bool
    election: ElectionState | None
    """None when the operator runs without leader election (one replica)."""
    now: float


def _stale_after(state: ElectionState) -> float:
    timing = state.timing
    return timing.renew_deadline + election.jittered(timing.retry_period, 1.0)


def _detail(snap: Snapshot) -> dict[str, Any]:
    state = snap.election
    if state is None:
        return {"leaderElection": False, "leader": True}
    return {
        "leaderElection": True,
        "identity": state.identity,
        "leader": state.leading,
        "holder": state.holder,
        "lastLeaseError": state.last_error,
    }


def liveness(snap: Snapshot) -> tuple[bool, dict[str, Any]]:
    """(alive, body) - see the module docstring."""
    body = _detail(snap)
    if not snap.tasks_alive:
        return False, {**body, "reason": "a reconcile task has stopped"}
    state = snap.election
    if state is None or state.last_attempt is None:
        return True, body
    idle = snap.now - state.last_attempt
    if idle > _stale_after(state):
        return False, {**body, "reason": f"leader election stuck for {idle:.0f} s"}
    since = state.last_ok if state.last_ok is not None else state.started
    if snap.now - since > LIVENESS_LEASES * state.timing.lease_duration:
        return False, {
            **body,
            "reason": f"no Lease round trip for {snap.now - since:.0f} s: {state.last_error}",
        }
    return True, body


def readiness(snap: Snapshot) -> tuple[bool, dict[str, Any]]:
    """(ready, body) - see the module docstring."""
    alive, body = liveness(snap)
    if not alive:
        return False, body
    state = snap.election
    if state is None:
        return True, body
    if state.last_ok is None:
        return False, {**body, "reason": state.last_error or "leader election starting"}
    age = snap.now - state.last_ok
    if age > _stale_after(state):
        return False, {
            **body,
            "reason": f"no Lease round trip for {age:.0f} s: {state.last_error or 'unknown'}",
        }
    return True, body


class HealthServer:
    """Serves `/healthz` and `/readyz` from `snapshot()` (200 or 503, JSON body)."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.add_routes([web.get("/healthz", self._healthz), web.get("/readyz", self._readyz)])
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: web.Request) -> web.Response:
        return _answer(*liveness(self._snapshot()))

    async def _readyz(self, _: web.Request) -> web.Response:
        return _answer(*readiness(self._snapshot()))


def _answer(ok: bool, body: dict[str, Any]) -> web.Response:
    return web.json_response({"ok": ok, **body}, status=200 if ok else 503)
