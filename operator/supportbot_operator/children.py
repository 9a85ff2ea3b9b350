"""Bring a tenant's children to the rendered manifests, all or nothing.

`plan` decides what differs (pure comparison, `drift`), whose each taken name is (`ownership`:
ours, adoptable, or someone else's) and which optional children go. `execute` sends the
changes; when more than one object changes it first sends every change as a server-side dry
run, so a request the API server refuses (a Deployment with an invalid resource, a policy
webhook's veto) refuses the whole change and never leaves a half-built tenant (a Service and no
Deployments) or half an edit applied. A refusal of the request itself (400/413/422) is
`Refused`: the reconciler reports it (Degraded, ApplyRejected) and does not send the same
changes again before `RETRY_REFUSED` has passed; anything else propagates and is retried with
backoff.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from supportbot_operator import drift, names
from supportbot_operator.errors import KubeApiError
from supportbot_operator.inputs import Problem
from supportbot_operator.kube import KubeApi, manifest_path
from supportbot_operator.metrics import Metrics
from supportbot_operator.ownership import Verdict, judge
from supportbot_operator.view import Body, ClusterView

DELETABLE = {
    "Ingress",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
    "ScaledObject",
    "TriggerAuthentication",
}
"""Optional children (the worker's autoscaler changes kind with its metric: an HPA, or KEDA's
ScaledObject + TriggerAuthentication); everything else always exists while the tenant does."""
REJECTED = "ApplyRejected"
RETRY_REFUSED = timedelta(minutes=5)
"""How long the same refused changes are not sent again (unless the spec or inputs change)."""

Children = dict[tuple[str, str], Body]


@dataclass
class Plan:
    apply: list[Body] = field(default_factory=list)
    """Rendered manifests that differ from (or are missing in) the cluster, in apply order."""
    delete: list[Body] = field(default_factory=list)
    """Live optional children no longer wanted."""
    conflicts: list[Problem] = field(default_factory=list)
    """Names taken by objects this tenant must not touch."""
    adopted: list[str] = field(default_factory=list)
    """`Kind/name: why` of objects this tenant takes over with this plan."""

    def fingerprint(self) -> str:
        """Identifies exactly these changes (the manifests carry a hash of their content)."""
        parts = [
            f"{m['kind']}/{m['metadata']['name']}="
            f"{(m['metadata'].get('annotations') or {}).get(names.ANNOTATION_APPLIED, '')}"
            for m in self.apply
        ]
        parts += [f"-{b['kind']}/{b['metadata']['name']}" for b in self.delete]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Rejection:
    """Changes the API server refused, remembered so they are not sent again at once."""

    fingerprint: str
    problem: Problem
    at: datetime

    def holds(self, plan: Plan, now: datetime) -> bool:
        return self.fingerprint == plan.fingerprint() and now - self.at < RETRY_REFUSED


class Refused(Exception):
    """The API server refused a change itself (not a transient failure)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def differing(desired: list[Body], children: Mapping[tuple[str, str], Body]) -> list[str]:
    """`Kind/name` of every child the cluster does not have as rendered (pure; no ownership
    checks: for reporting what a pause holds back)."""
    out = [
        f"{m['kind']}/{m['metadata']['name']}"
        for m in desired
        if not drift.in_sync(m, children.get((m["kind"], m["metadata"]["name"])))
    ]
    wanted = {(m["kind"], m["metadata"]["name"]) for m in desired}
    out += [
        f"{kind}/{name} (to delete)"
        for kind, name in children
        if kind in DELETABLE and (kind, name) not in wanted
    ]
    return out


async def plan(
    api: KubeApi,
    view: ClusterView,
    bot_name: str,
    uid: str,
    desired: list[Body],
    children: Children,
) -> Plan:
    """What to change. A name missing from the tenant's children is checked with the API
    server unless the cluster-wide name index says nothing has it."""
    out = Plan()
    for manifest in desired:
        meta = manifest["metadata"]
        key = (manifest["kind"], meta["name"])
        live = children.get(key)
        if live is None and view.exists(key[0], meta["namespace"], key[1]) is not False:
            live = await api.get(manifest_path(manifest))
            if live is not None:
                verdict = judge(live, bot_name, uid)
                if verdict.verdict is Verdict.CONFLICT:
                    out.conflicts.append(
                        Problem("NameConflict", f"{key[0]} {key[1]!r} {verdict.why}")
                    )
                    continue
                if verdict.verdict is Verdict.ADOPT:
                    out.adopted.append(f"{key[0]}/{key[1]}: {verdict.why}")
        if not drift.in_sync(manifest, live):
            out.apply.append(manifest)
    wanted = {(m["kind"], m["metadata"]["name"]) for m in desired}
    out.delete = [
        body
        for (kind, name), body in children.items()
        if kind in DELETABLE and (kind, name) not in wanted
    ]
    return out


def _refused(manifest: Body, exc: KubeApiError) -> Refused:
    what = f"{manifest['kind']} {manifest['metadata']['name']}"
    return Refused(Problem(REJECTED, f"the API server refused {what}: {exc.message}"))


async def execute(api: KubeApi, metrics: Metrics, plan: Plan, children: Children) -> list[str]:
    """Send the plan; returns what changed. Raises `Refused` (nothing of the plan applied when
    it had more than one change) or a retryable `KubeApiError`."""
    if len(plan.apply) + len(plan.delete) > 1:
        for manifest in plan.apply:
            try:
                await api.apply(manifest, dry_run=True)
            except KubeApiError as exc:
                if exc.permanent:
                    raise _refused(manifest, exc) from exc
                raise
            metrics.writes.labels("dry-run", manifest["kind"]).inc()
    changed: list[str] = []
    for manifest in plan.apply:
        key = (manifest["kind"], manifest["metadata"]["name"])
        try:
            children[key] = await api.apply(manifest)
        except KubeApiError as exc:
            if exc.permanent:
                raise _refused(manifest, exc) from exc
            raise
        metrics.writes.labels("apply", key[0]).inc()
        changed.append(f"{key[0]}/{key[1]}")
    for body in plan.delete:
        meta = body["metadata"]
        await api.delete(body["apiVersion"], body["kind"], meta["namespace"], meta["name"])
        metrics.writes.labels("delete", body["kind"]).inc()
        del children[(body["kind"], meta["name"])]
        changed.append(f"{body['kind']}/{meta['name']} (deleted)")
    return changed
