"""The SupportBot `status`, computed purely from what the reconciler observed, and the events
its condition transitions deserve.

Conditions follow metav1.Condition and kstatus: `Ready` (both Deployments rolled out and
available, nothing degraded), `Reconciling` (a rollout is in progress), `Degraded` (an input is
missing or invalid, an apply failed or pods are failing; the running version is kept), and
`Paused`. `lastTransitionTime` only moves when a condition's status changes, so an unchanged
tenant produces an identical status and the reconciler skips the write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from supportbot_operator import names
from supportbot_operator.inputs import Problem

READY, RECONCILING, DEGRADED, PAUSED = "Ready", "Reconciling", "Degraded", "Paused"
CONDITION_TYPES = (READY, RECONCILING, DEGRADED, PAUSED)


@dataclass(frozen=True)
class Component:
    """Replica counts and health of one Deployment."""

    exists: bool
    desired: int = 0
    ready: int = 0
    updated: int = 0
    rolled_out: bool = False
    failure: Problem | None = None

    def as_status(self) -> dict[str, Any]:
        return {
            "desiredReplicas": self.desired,
            "readyReplicas": self.ready,
            "updatedReplicas": self.updated,
            "ready": f"{self.ready}/{self.desired}",
        }


def component(deployment: Mapping[str, Any] | None, min_replicas: int = 0) -> Component:
    """Health of a Deployment; `min_replicas` (the HPA's floor) counts as desired until the
    autoscaler has caught up, so a new tenant is not Ready with fewer pods than asked for."""
    if deployment is None:
        return Component(exists=False)
    meta, spec, st = (deployment.get(k) or {} for k in ("metadata", "spec", "status"))
    desired = max(int(spec.get("replicas", 1)), min_replicas)
    ready, updated = int(st.get("readyReplicas", 0)), int(st.get("updatedReplicas", 0))
    available, total = int(st.get("availableReplicas", 0)), int(st.get("replicas", 0))
    observed = int(st.get("observedGeneration", 0)) >= int(meta.get("generation", 0))
    rolled_out = (
        observed and updated >= desired and total <= updated and available >= updated
    ) and ready >= desired
    failure = None
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("status") == "False":
            failure = Problem("PodsFailing", f"{meta.get('name')}: {cond.get('message', '')}")
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            failure = Problem("ReplicaFailure", f"{meta.get('name')}: {cond.get('message', '')}")
    return Component(True, desired, ready, updated, rolled_out, failure)


@dataclass(frozen=True)
class Observation:
    generation: int
    paused: bool
    problems: Sequence[Problem]
    webhook: Component
    worker: Component
    endpoint: str
    status_endpoint: str
    running: Mapping[str, str]
    """What the pods run: image, flowHash, secretsHash (from the live worker template)."""
    agent_api_endpoint: str | None = None
    """Base URL of the agent API; None while it is off."""


def _condition(kind: str, ok: bool, reason: str, message: str, gen: int) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "observedGeneration": gen,
        "reason": reason,
        "message": message[:32768],
    }


def _conditions(obs: Observation) -> list[dict[str, Any]]:
    gen = obs.generation
    parts = (obs.webhook, obs.worker)
    problems = list(obs.problems) + [c.failure for c in parts if c.failure is not None]
    summary = (
        f"webhook {obs.webhook.ready}/{obs.webhook.desired}, "
        f"worker {obs.worker.ready}/{obs.worker.desired} ready"
    )
    rolling = all(c.exists for c in parts) and not all(c.rolled_out for c in parts)

    if problems:
        degraded = _condition(
            DEGRADED, True, problems[0].reason, "; ".join(p.message for p in problems), gen
        )
    else:
        degraded = _condition(DEGRADED, False, "AsExpected", "inputs valid, pods healthy", gen)

    if obs.paused:
        reconciling = _condition(RECONCILING, False, "Paused", "reconciliation is paused", gen)
    elif rolling:
        reconciling = _condition(RECONCILING, True, "RollingOut", summary, gen)
    else:
        reconciling = _condition(RECONCILING, False, "Reconciled", "children match the spec", gen)

    if not all(c.exists for c in parts):
        reason = "Paused" if obs.paused else (problems[0].reason if problems else "Deploying")
        message = "the bot's Deployments do not exist yet"
        if problems and not obs.paused:
            message = f"{message}: {degraded['message']}"
        ready = _condition(READY, False, reason, message, gen)
    elif problems:
        ready = _condition(READY, False, problems[0].reason, degraded["message"], gen)
    elif rolling:
        ready = _condition(READY, False, "RollingOut", summary, gen)
    else:
        ready = _condition(READY, True, "Available", summary, gen)

    paused = _condition(
        PAUSED,
        obs.paused,
        "Paused" if obs.paused else "Active",
        f"spec.paused or annotation {names.ANNOTATION_PAUSED}" if obs.paused else "reconciling",
        gen,
    )
    return [ready, reconciling, degraded, paused]


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def compute(obs: Observation, previous: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The full new status; unchanged conditions keep their lastTransitionTime."""
    before = {c.get("type"): c for c in (previous or {}).get("conditions") or []}
    conditions = []
    for cond in _conditions(obs):
        old = before.get(cond["type"])
        same = old is not None and old.get("status") == cond["status"]
        cond["lastTransitionTime"] = (
            old.get("lastTransitionTime") if same and old else _timestamp(now)
        )
        conditions.append(cond)
    status: dict[str, Any] = {
        "observedGeneration": obs.generation,
        "conditions": conditions,
        "webhook": obs.webhook.as_status(),
        "worker": obs.worker.as_status(),
        "endpoint": obs.endpoint,
        "statusEndpoint": obs.status_endpoint,
        "agentApiEndpoint": obs.agent_api_endpoint,  # None clears it once the API is off
    }
    for key in RUNNING_KEYS:  # None clears a stale value in the merge patch
        status[key] = obs.running.get(key) or None
    return status


RUNNING_KEYS = ("image", "flowHash", "secretsHash")


def changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Would merge-patching `new` change anything? Only our keys count (not kopf's subtree);
    a None in `new` means "absent"."""
    before = old or {}
    return any(before.get(key) != value for key, value in new.items())


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


def transitions(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Event]:
    """Kubernetes Events for condition changes between two statuses."""
    before = {c.get("type"): c for c in (old or {}).get("conditions") or []}
    after = {c["type"]: c for c in new.get("conditions") or []}
    events: list[Event] = []

    def flipped(kind: str, to: str) -> bool:
        was = before.get(kind, {}).get("status")
        return bool(after[kind]["status"] == to and was != to)

    deg = after[DEGRADED]
    if flipped(DEGRADED, "True") or (
        deg["status"] == "True" and before.get(DEGRADED, {}).get("reason") != deg["reason"]
    ):
        events.append(Event("Warning", deg["reason"], deg["message"]))
    elif flipped(DEGRADED, "False") and DEGRADED in before:
        events.append(Event("Normal", "Recovered", "inputs valid and pods healthy again"))
    if flipped(PAUSED, "True"):
        events.append(Event("Normal", "Paused", "reconciliation paused"))
    elif flipped(PAUSED, "False") and PAUSED in before:
        events.append(Event("Normal", "Resumed", "reconciliation resumed"))
    if flipped(READY, "True"):
        events.append(Event("Normal", "Ready", after[READY]["message"]))
    return events
