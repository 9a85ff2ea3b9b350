"""The SupportBot `status`, computed purely from what the reconciler observed, and the events
its condition transitions deserve.

Conditions follow metav1.Condition and kstatus: `Ready` (both Deployments rolled out and available,
autoscaling working, nothing degraded, nothing held back by a pause), `Reconciling` (a rollout is
in progress; when not, it says whether the children match the spec, what holds them back or what a
pause left unapplied), `Degraded` (an input is missing or invalid, the API server refused a child,
pods are failing, a Deployment was scaled to 0 by hand or an autoscaler cannot scale),
`Autoscaling` (whether the chosen mode's prerequisites exist on the cluster, e.g. KEDA for
QueueDepth, then the HorizontalPodAutoscalers' own `AbleToScale`/`ScalingActive` and KEDA
ScaledObjects' `Ready` verdicts, with their reasons) and `Paused`. A change that would replace
pods while the fleet's rollout slots are taken (`pacing`) reads Reconciling=True and
Ready=False, reason `RolloutQueued`, until its turn. While a pause holds back spec
changes, `observedGeneration` stays at the last generation the children match, so `kubectl wait`
and GitOps tools do not take an unapplied spec for done. `lastTransitionTime` only moves when a
condition's status changes, so an unchanged tenant produces an identical status and the reconciler
skips the write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from supportbot_operator import names
from supportbot_operator.inputs import Problem

READY, RECONCILING, DEGRADED, PAUSED = "Ready", "Reconciling", "Degraded", "Paused"
AUTOSCALING = "Autoscaling"
CONDITION_TYPES = (READY, RECONCILING, DEGRADED, AUTOSCALING, PAUSED)
SCALED_TO_ZERO = "ScaledToZero"
QUEUED = "RolloutQueued"


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
    if int(spec.get("replicas", 1)) == 0 < min_replicas:
        name = meta.get("name")
        failure = Problem(
            SCALED_TO_ZERO,
            f"Deployment {name} was scaled to 0 replicas by hand, and its "
            "HorizontalPodAutoscaler never scales a Deployment up from 0: scale it back with "
            f"`kubectl scale deployment {name} --replicas={min_replicas}`",
        )
    return Component(True, desired, ready, updated, rolled_out, failure)


@dataclass(frozen=True)
class Autoscaling:
    """What the tenant's autoscalers (HPAs, KEDA ScaledObjects) say about themselves."""

    status: str
    """True (every autoscaler computes replica counts), False (one cannot), Unknown (none
    exists yet, or the HPA controller has not evaluated one yet)."""
    reason: str
    message: str
    problems: tuple[Problem, ...] = ()


_HPA_CHECKS = ("AbleToScale", "ScalingActive")


def autoscaling(
    hpas: Sequence[Mapping[str, Any]],
    scaled_objects: Sequence[Mapping[str, Any]] = (),
    missing: Sequence[Problem] = (),
) -> Autoscaling:
    """`missing`: what the chosen mode needs and the cluster lacks (KEDA's CRDs, its metrics
    API), reported first. Then the HPAs' `AbleToScale` and `ScalingActive` conditions and the
    ScaledObjects' `Ready`: any of them False means the tenant's capacity no longer follows its
    load; their reasons and messages are passed on verbatim (e.g. FailedGetResourceMetric when
    no resource metrics API serves CPU)."""
    problems: list[Problem] = list(missing)
    if not hpas and not scaled_objects and not problems:
        return Autoscaling("Unknown", "NoAutoscalers", "the autoscalers do not exist yet")
    waiting: list[str] = []
    for so in scaled_objects:
        name = (so.get("metadata") or {}).get("name", "")
        conds = {c.get("type"): c for c in (so.get("status") or {}).get("conditions") or []}
        ready = conds.get("Ready") or {}
        if ready.get("status") == "False":
            reason = str(ready.get("reason") or "ScaledObjectNotReady")
            problems.append(
                Problem(
                    reason,
                    f"ScaledObject {name}: Ready=False ({reason}): {ready.get('message', '')}",
                )
            )
        elif ready.get("status") != "True":
            waiting.append(name)
    for hpa in hpas:
        name = (hpa.get("metadata") or {}).get("name", "")
        conds = {c.get("type"): c for c in (hpa.get("status") or {}).get("conditions") or []}
        failed = [conds[t] for t in _HPA_CHECKS if conds.get(t, {}).get("status") == "False"]
        if failed:
            c = failed[0]
            reason = str(c.get("reason") or f"{c.get('type')}False")
            problems.append(
                Problem(
                    reason,
                    f"HorizontalPodAutoscaler {name}: {c.get('type')}=False ({reason}): "
                    f"{c.get('message', '')}",
                )
            )
        elif "ScalingActive" not in conds:
            waiting.append(name)
    if problems:
        message = "; ".join(p.message for p in problems)
        return Autoscaling("False", problems[0].reason, message, tuple(problems))
    if waiting:
        return Autoscaling(
            "Unknown", "Pending", f"not evaluated by their controller yet: {', '.join(waiting)}"
        )
    return Autoscaling("True", "ScalingActive", "every autoscaler computes its replica count")


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
    """What the pods run: image, flowHash, secretsHash, models (from the live templates)."""
    agent_api_endpoint: str | None = None
    """Base URL of the agent API; None while it is off."""
    held: str = ""
    """What keeps the spec from being applied in full this pass (empty: it was applied)."""
    pending: Sequence[str] = ()
    """Paused only: the children that differ from the spec (the changes the pause holds)."""
    autoscaling: Autoscaling = Autoscaling("Unknown", "NoAutoscalers", "not read")
    queued: str = ""
    """Why a change that replaces pods waits for a fleet rollout slot (empty: it does not)."""


def _condition(kind: str, ok: bool | str, reason: str, message: str, gen: int) -> dict[str, Any]:
    return {
        "type": kind,
        "status": ok if isinstance(ok, str) else "True" if ok else "False",
        "observedGeneration": gen,
        "reason": reason,
        "message": message[:32768],
    }


def _conditions(obs: Observation) -> list[dict[str, Any]]:
    gen = obs.generation
    parts = (obs.webhook, obs.worker)
    problems = [
        *obs.problems,
        *(c.failure for c in parts if c.failure is not None),
        *obs.autoscaling.problems,
    ]
    summary = (
        f"webhook {obs.webhook.ready}/{obs.webhook.desired}, "
        f"worker {obs.worker.ready}/{obs.worker.desired} ready"
    )
    deployed = all(c.exists for c in parts)
    # A component stuck for a stated reason (scaled to 0, pods failing) is not rolling out.
    rolling = deployed and any(not c.rolled_out and c.failure is None for c in parts)
    where = "the running version is kept" if deployed else "nothing is deployed yet"
    pending = ", ".join(obs.pending)

    if problems:
        degraded = _condition(
            DEGRADED, True, problems[0].reason, "; ".join(p.message for p in problems), gen
        )
    else:
        degraded = _condition(DEGRADED, False, "AsExpected", "inputs valid, pods healthy", gen)

    if obs.paused:
        state = f"not applied: {pending}" if pending else "the children match the spec"
        reconciling = _condition(
            RECONCILING, False, "Paused", f"reconciliation is paused; {state}", gen
        )
    elif rolling:
        rollout = f"{summary}; {obs.held}" if obs.held else summary
        reconciling = _condition(RECONCILING, True, "RollingOut", rollout, gen)
    elif obs.queued:
        reconciling = _condition(RECONCILING, True, QUEUED, obs.queued, gen)
    elif obs.held or not deployed:
        held = f"{obs.held}; {where}" if obs.held else where
        reconciling = _condition(RECONCILING, False, "Held", held, gen)
    else:
        reconciling = _condition(RECONCILING, False, "Reconciled", "children match the spec", gen)

    if obs.paused and pending:
        ready = _condition(
            READY, False, "Paused", f"paused with changes not applied: {pending}", gen
        )
    elif not deployed:
        reason = "Paused" if obs.paused else (problems[0].reason if problems else "Deploying")
        message = "the bot's Deployments do not exist yet"
        if problems and not obs.paused:
            message = f"{message}: {degraded['message']}"
        ready = _condition(READY, False, reason, message, gen)
    elif problems:
        ready = _condition(READY, False, problems[0].reason, degraded["message"], gen)
    elif rolling:
        ready = _condition(READY, False, "RollingOut", summary, gen)
    elif obs.queued:
        ready = _condition(READY, False, QUEUED, f"{summary}; {obs.queued}", gen)
    else:
        ready = _condition(READY, True, "Available", summary, gen)

    scaling = obs.autoscaling
    autoscaling_cond = _condition(AUTOSCALING, scaling.status, scaling.reason, scaling.message, gen)
    paused = _condition(
        PAUSED,
        obs.paused,
        "Paused" if obs.paused else "Active",
        f"spec.paused or annotation {names.ANNOTATION_PAUSED}" if obs.paused else "reconciling",
        gen,
    )
    return [ready, reconciling, degraded, autoscaling_cond, paused]


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
    # Changes a pause or the rollout line holds back are not observed as done: the generation
    # stays where the children last matched the spec (None, i.e. absent, when they never did).
    held_back = obs.pending or obs.queued
    observed = (previous or {}).get("observedGeneration") if held_back else obs.generation
    status: dict[str, Any] = {
        "observedGeneration": observed,
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


RUNNING_KEYS = ("image", "flowHash", "secretsHash", "models")


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
        ready = after[READY]
        healthy = ready["status"] == "True"
        message = (
            "inputs valid and pods healthy again"
            if healthy
            else f"no longer degraded; not ready yet: {ready['message']}"
        )
        events.append(Event("Normal", "Recovered", message))
    if flipped(PAUSED, "True"):
        events.append(Event("Normal", "Paused", "reconciliation paused"))
    elif flipped(PAUSED, "False") and PAUSED in before:
        events.append(Event("Normal", "Resumed", "reconciliation resumed"))
    if flipped(READY, "True"):
        events.append(Event("Normal", "Ready", after[READY]["message"]))
    return events
