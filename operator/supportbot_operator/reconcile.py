"""One reconcile pass for one tenant: read the in-memory view, resolve inputs, render, apply only
what differs, delete what is no longer wanted, write the status only when it changed, and post
Events on condition transitions.

Policy when something is wrong (decided here, in one place):
- a referenced Secret or key is missing: hold, apply nothing (pods could not start), Degraded;
- the flow ConfigMap is missing or its flow invalid: keep the last validated flow snapshot and
  apply everything else with it; with no snapshot yet, hold. Degraded either way;
- its `integratedNumber` is held by an older SupportBot (`tenancy`): withdraw its serving
  workload (Deployments, HPAs), apply nothing else, NumberConflict (not Ready, Degraded);
- paused: apply nothing; report which children differ from the spec (Ready False, and
  `observedGeneration` not advanced, while a pause holds changes back);
- a child's name is taken: adopt what is this bot's by every sign left, refuse what another
  controller owns or the operator never labelled (`ownership`), NameConflict;
- the API server refuses a change itself (422...): apply none of it (`children`), Degraded
  (ApplyRejected) with the API's message, and do not send the same changes again soon;
- the change would replace running pods while the fleet's rollout slots are taken (`pacing`):
  apply none of it yet, wait in line (RolloutQueued), keep serving the running version;
- any other API failure: Degraded (ApplyFailed), and the error propagates so the caller requeues;
- being deleted (deletionTimestamp set): touch nothing (the garbage collector's turn).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from supportbot.settings import env_var_names
from supportbot_operator import (
    children as childset,
    inputs,
    names,
    pacing,
    prereqs,
    render,
    spec,
    status,
    tenancy,
)
from supportbot_operator.errors import InvalidSpecError, KubeApiError
from supportbot_operator.flowcheck import FlowValidator
from supportbot_operator.inputs import Problem
from supportbot_operator.kube import KubeApi, object_path
from supportbot_operator.metrics import Metrics
from supportbot_operator.render import network
from supportbot_operator.secretreader import ReferencedSecrets
from supportbot_operator.settings import OperatorSettings
from supportbot_operator.view import Body, ClusterView

log = logging.getLogger(__name__)

WORKLOAD = ("Deployment", "HorizontalPodAutoscaler", "ScaledObject")
"""What serves a number: withdrawn from a tenant whose number an older SupportBot holds."""


@dataclass
class FlowMemo:
    """Last flow text fetched for a tenant and the validator's verdict on it."""

    hash: str
    text: str
    errors: list[str]
    allow_hosts: tuple[str, ...] = ()
    """The tenant's `spec.flow.httpAllowHosts` the verdict was given under."""


@dataclass
class Context:
    settings: OperatorSettings
    api: KubeApi
    view: ClusterView
    validate: FlowValidator
    metrics: Metrics
    flows: dict[tuple[str, str], FlowMemo] = field(default_factory=dict)
    snapshot_verdicts: dict[tuple[str, str], FlowMemo] = field(default_factory=dict)
    """The running flow snapshot re-checked under the tenant's current `httpAllowHosts`."""
    conditions: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    conflicted: set[tuple[str, str]] = field(default_factory=set)
    """Tenants waiting for their number (re-decided whenever any SupportBot changes)."""
    rejected: dict[tuple[str, str], childset.Rejection] = field(default_factory=dict)
    """Changes the API server refused, per tenant (not sent again soon)."""
    pacer: pacing.Pacer = field(default_factory=lambda: pacing.Pacer(0))
    """Fleet rollout slots and the tenants waiting for one."""
    wake: Callable[[tuple[str, str]], None] = lambda key: None
    """Queues a reconcile of another tenant (a waiter whose slot came free)."""
    secret_reader: ReferencedSecrets | None = None
    """`secret_access: referenced`: Secrets are read by name, on demand (None: watched)."""
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    capabilities: prereqs.CapabilityProbe | None = None
    """Discovery of KEDA and the external metrics API (None: taken to be served, for tests)."""

    async def caps(self) -> prereqs.Capabilities:
        if self.capabilities is None:
            self.capabilities = prereqs.CapabilityProbe(self.api)
        return await self.capabilities.get()


@dataclass(frozen=True)
class Snapshot:
    hash: str
    text: str


def _snapshot(children: Mapping[tuple[str, str], Body], bot: spec.SupportBot) -> Snapshot | None:
    cm = children.get(("ConfigMap", names.flow_configmap_name(bot.name)))
    if cm is None:
        return None
    text = (cm.get("data") or {}).get(names.FLOW_FILE)
    want = (cm["metadata"].get("annotations") or {}).get(names.ANNOTATION_FLOW_HASH)
    if text is None or want != inputs.flow_hash(text):
        return None  # edited by someone: not trustworthy
    return Snapshot(want, text)


async def resolve_flow(
    ctx: Context, bot: spec.SupportBot, children: Mapping[tuple[str, str], Body]
) -> tuple[Snapshot | None, Problem | None]:
    """The flow to run: the current source when valid, else the last snapshot + a problem.
    Validity includes the tenant's `spec.flow.httpAllowHosts`: a snapshot that no longer passes
    under it (the list was narrowed) is not used, so nothing rolls out until flow and list agree
    (the running pods keep both as they were)."""
    snapshot = _snapshot(children, bot)
    hosts = tuple(bot.spec.flow.http_allow_hosts)
    if snapshot is not None and _snapshot_errors(ctx, bot, snapshot, hosts):
        snapshot = None
    ref = bot.spec.flow.config_map_ref
    source, problem = inputs.flow_source_problem(
        bot, lambda n: ctx.view.configmap(bot.namespace, n)
    )
    if problem is not None or source is None:
        return snapshot, problem
    want = source[:16]
    if snapshot is not None and snapshot.hash == want:
        return snapshot, None
    key = (bot.namespace, bot.name)
    memo = ctx.flows.get(key)
    if memo is None or memo.hash != want or memo.allow_hosts != hosts:
        cm = await ctx.api.get(object_path("v1", "ConfigMap", bot.namespace, ref.name))
        text = ((cm or {}).get("data") or {}).get(ref.key)
        if text is None:
            return snapshot, Problem(
                "ConfigMapKeyNotFound", f"flow ConfigMap {ref.name!r} has no key {ref.key!r}"
            )
        memo = FlowMemo(inputs.flow_hash(text), text, ctx.validate(text, list(hosts)), hosts)
        ctx.flows[key] = memo
    if memo.errors:
        return snapshot, inputs.invalid_flow(memo.errors, previous=snapshot is not None)
    return Snapshot(memo.hash, memo.text), None


def _snapshot_errors(
    ctx: Context, bot: spec.SupportBot, snapshot: Snapshot, hosts: tuple[str, ...]
) -> list[str]:
    key = (bot.namespace, bot.name)
    verdict = ctx.snapshot_verdicts.get(key)
    if verdict is None or verdict.hash != snapshot.hash or verdict.allow_hosts != hosts:
        errors = ctx.validate(snapshot.text, list(hosts))
        verdict = FlowMemo(snapshot.hash, "", errors, hosts)
        ctx.snapshot_verdicts[key] = verdict
    return verdict.errors


def _running(children: Mapping[tuple[str, str], Body], bot_name: str) -> dict[str, str]:
    """What the pods run, read from the live pod templates (not from the spec): image and flow
    from the worker, the secrets hash from the webhook (it covers every referenced key)."""

    def template(name: str) -> tuple[dict[str, str], dict[str, Any]]:
        found = children.get(("Deployment", name)) or {}
        tpl = found.get("spec", {}).get("template", {})
        containers = tpl.get("spec", {}).get("containers") or [{}]
        return tpl.get("metadata", {}).get("annotations") or {}, containers[0]

    if ("Deployment", names.worker_name(bot_name)) not in children:
        return {}
    worker_annotations, worker = template(names.worker_name(bot_name))
    webhook_annotations, _ = template(names.webhook_name(bot_name))
    secrets = webhook_annotations.get(names.ANNOTATION_SECRETS_HASH) or worker_annotations.get(
        names.ANNOTATION_SECRETS_HASH, ""
    )
    env = {e.get("name"): e.get("value") for e in worker.get("env") or []}
    models = str(env.get(env_var_names()["llm_models"]) or "")
    return {
        "image": str(worker.get("image", "")),
        "flowHash": str(worker_annotations.get(names.ANNOTATION_FLOW_HASH, "")),
        "secretsHash": str(secrets),
        "models": ", ".join(m for m in models.split(",") if m),
    }


async def _withdraw(ctx: Context, children: dict[tuple[str, str], Body]) -> None:
    """Delete the tenant's serving workload (its own children only, from the index)."""
    for (kind, name), body in list(children.items()):
        if kind in WORKLOAD:
            meta = body["metadata"]
            await ctx.api.delete(body["apiVersion"], kind, meta["namespace"], name)
            ctx.metrics.writes.labels("delete", kind).inc()
            del children[(kind, name)]
            log.info(
                "withdrew %s %s/%s: its number is held elsewhere", kind, meta["namespace"], name
            )


def rollout_holders(ctx: Context) -> list[tuple[str, str]]:
    """Tenants holding a rollout slot (rolling out or unavailable, or granted one by this
    process and not yet seen rolled out); forgets the grants that are over."""
    out = []
    for key in ctx.view.bot_keys():
        body = ctx.view.bot(*key)
        if body is None:
            continue
        owned = ctx.view.owned(*key, body["metadata"].get("uid", ""))
        deployments = {name: b for (kind, name), b in owned.items() if kind == "Deployment"}
        if ctx.pacer.holds(key, deployments):
            out.append(key)
    return out


async def reconcile(ctx: Context, namespace: str, name: str) -> str:
    """One pass; returns the result label for metrics. API errors propagate (requeue)."""
    result = await _reconcile(ctx, namespace, name)
    if ctx.pacer.waiting:  # this pass may have freed a slot (a rollout done, a tenant gone)
        for key in ctx.pacer.next_up(len(rollout_holders(ctx))):
            if key != (namespace, name):
                ctx.wake(key)
    return result


async def _reconcile(ctx: Context, namespace: str, name: str) -> str:
    body = ctx.view.bot(namespace, name)
    if body is None:
        ctx.flows.pop((namespace, name), None)
        ctx.snapshot_verdicts.pop((namespace, name), None)
        ctx.conditions.pop((namespace, name), None)
        ctx.rejected.pop((namespace, name), None)
        ctx.conflicted.discard((namespace, name))
        ctx.pacer.forget((namespace, name))
        return "gone"
    meta = body["metadata"]
    if meta.get("deletionTimestamp"):
        # Being deleted (e.g. `--cascade=orphan`, whose finalizer strips our ownerReferences
        # first): applying now would hand the children back to an owner about to vanish, and
        # the garbage collector would then delete what the user asked to keep.
        ctx.pacer.forget((namespace, name))
        return "deleting"
    generation = int(meta.get("generation") or 0)
    try:
        bot = spec.parse(body)
    except InvalidSpecError as exc:
        problems = [Problem("InvalidSpec", str(exc))]
        report = Report(generation, False, problems, held="the spec cannot be used")
        await _report(ctx, body, report, {}, None, (0, 0))
        return "invalid"
    children = ctx.view.owned(namespace, name, bot.uid)
    endpoints = network.endpoints(bot, ctx.settings.cluster_domain)
    floors = (bot.spec.webhook.min_replicas, bot.spec.worker.min_replicas)
    number = bot.spec.whatsapp.integrated_number
    clash = tenancy.conflict(tenancy.claim_of(body), number, ctx.view.claims(number))
    if clash is not None:
        ctx.conflicted.add((namespace, name))
        ctx.pacer.leave((namespace, name))
        if not bot.paused:
            await _withdraw(ctx, children)
        held = "not serving: the number belongs to another SupportBot"
        report = Report(generation, bot.paused, [clash], held=held)
        await _report(ctx, body, report, children, endpoints, floors)
        return "conflict"
    ctx.conflicted.discard((namespace, name))

    forbidden: list[Problem] = []
    if ctx.secret_reader is not None:
        secret_names = [ref.name for ref in bot.spec.secret_refs().values()]
        await ctx.secret_reader.ensure(namespace, secret_names)
        forbidden = ctx.secret_reader.problems(namespace, secret_names)
    secrets = inputs.resolve_secrets(bot, lambda n: ctx.view.secret(namespace, n))
    flow, flow_problem = await resolve_flow(ctx, bot, children)
    # A Secret the operator may not read also looks missing: say the actual reason only.
    secret_problems = forbidden or list(secrets.problems)
    problems = [*secret_problems, *([flow_problem] if flow_problem else [])]
    scaling: list[Problem] = []
    keda = True
    if prereqs.uses_prerequisites(bot):
        caps = await ctx.caps()
        keda = caps.keda
        scaling = prereqs.check(bot, caps, lambda n: ctx.view.secret(namespace, n))
    desired = None
    if not secret_problems and flow is not None:
        resolved = render.Inputs(flow.text, flow.hash, secrets.hash, secrets.worker_hash)
        desired = render.render_children(bot, resolved, ctx.settings, keda=keda)
    if bot.paused:
        if desired is None:
            unknown = ", ".join(sorted({p.reason for p in problems}))
            pending = [f"unknown (the inputs cannot be resolved: {unknown})"]
        else:
            pending = childset.differing(desired, children)
        ctx.pacer.leave((namespace, name))
        report = Report(generation, True, [], pending=pending)
        await _report(ctx, body, report, children, endpoints, floors)
        return "paused"
    if desired is None:
        ctx.pacer.leave((namespace, name))
        held = "nothing applied until the inputs are fixed"
        report = Report(generation, False, problems, held, scaling=scaling)
        await _report(ctx, body, report, children, endpoints, floors)
        return "held"
    held = "the flow stays at its last valid version" if flow_problem else ""
    result, queued = await _converge(ctx, body, bot, desired, children, problems)
    if result == "rejected":
        held = "the API server refused the change, so none of it was applied"
    report = Report(generation, False, problems, held, scaling=scaling, queued=queued)
    await _report(ctx, body, report, children, endpoints, floors)
    return result


async def _converge(
    ctx: Context,
    body: Body,
    bot: spec.SupportBot,
    desired: list[Body],
    children: dict[tuple[str, str], Body],
    problems: list[Problem],
) -> tuple[str, str]:
    """Apply the rendered children; appends what went wrong to `problems`. Returns the result
    label ("applied", "unchanged", "rejected", "queued") and, when queued, why; retryable API
    errors propagate."""
    key = (bot.namespace, bot.name)
    plan = await childset.plan(ctx.api, ctx.view, bot.name, bot.uid, desired, children)
    problems.extend(plan.conflicts)
    rejection = ctx.rejected.get(key)
    if rejection is not None and rejection.holds(plan, ctx.now()):
        problems.append(rejection.problem)
        return "rejected", ""
    rolls = ctx.pacer.limit > 0 and pacing.rolls_pods(plan.apply, children)
    if rolls:
        decision = ctx.pacer.decide(key, rollout_holders(ctx))
        if not decision.granted:
            return "queued", decision.message(ctx.pacer.limit)
    else:
        ctx.pacer.leave(key)
    try:
        changed = await childset.execute(ctx.api, ctx.metrics, plan, children)
    except childset.Refused as exc:
        ctx.pacer.failed(key)
        ctx.rejected[key] = childset.Rejection(plan.fingerprint(), exc.problem, ctx.now())
        problems.append(exc.problem)
        log.warning("%s/%s: %s", *key, exc.problem.message)
        return "rejected", ""
    except KubeApiError as exc:
        ctx.pacer.failed(key)
        problems.append(Problem("ApplyFailed", str(exc)))
        report = Report(int(body["metadata"].get("generation") or 0), False, problems)
        endpoints = network.endpoints(bot, ctx.settings.cluster_domain)
        floors = (bot.spec.webhook.min_replicas, bot.spec.worker.min_replicas)
        await _report(ctx, body, report, children, endpoints, floors)
        raise
    ctx.rejected.pop(key, None)
    if rolls:
        rolled = [m["metadata"]["name"] for m in plan.apply if m["kind"] == "Deployment"]
        ctx.pacer.started(key, pacing.generations(children[("Deployment", n)] for n in rolled))
        log.info("%s/%s: rolling out (rollout slot taken)", *key)
    for adopted in plan.adopted:
        await _event(ctx, body, status.Event("Normal", "Adopted", f"adopted {adopted}"))
    if changed:
        log.info("applied %s/%s: %s", *key, ", ".join(changed))
        await _event(ctx, body, status.Event("Normal", "Applied", "updated " + ", ".join(changed)))
    return ("applied" if changed else "unchanged"), ""


@dataclass(frozen=True)
class Report:
    """What a pass found, beyond the children: see `status.Observation`."""

    generation: int
    paused: bool
    problems: list[Problem]
    held: str = ""
    pending: list[str] = field(default_factory=list)
    queued: str = ""
    scaling: list[Problem] = field(default_factory=list)
    """What the autoscaling mode needs and the cluster lacks (`prereqs.check`)."""


def _autoscalers(
    children: Mapping[tuple[str, str], Body], bot_name: str, kind: str = "HorizontalPodAutoscaler"
) -> list[Body]:
    found = (children.get((kind, f"{bot_name}-{part}")) for part in (names.WEBHOOK, names.WORKER))
    return [obj for obj in found if obj is not None]


async def _report(
    ctx: Context,
    body: Body,
    report: Report,
    children: Mapping[tuple[str, str], Body],
    endpoints: network.Endpoints | None,
    floors: tuple[int, int],
) -> None:
    meta = body["metadata"]
    bot_name = meta["name"]
    obs = status.Observation(
        generation=report.generation,
        paused=report.paused,
        problems=report.problems,
        webhook=status.component(
            children.get(("Deployment", names.webhook_name(bot_name))), floors[0]
        ),
        worker=status.component(
            children.get(("Deployment", names.worker_name(bot_name))), floors[1]
        ),
        endpoint=endpoints.inbound if endpoints else "",
        status_endpoint=endpoints.status if endpoints else "",
        agent_api_endpoint=endpoints.agent_api if endpoints else None,
        running=_running(children, bot_name),
        held=report.held,
        pending=report.pending,
        queued=report.queued,
        autoscaling=status.autoscaling(
            _autoscalers(children, bot_name),
            _autoscalers(children, bot_name, "ScaledObject"),
            report.scaling,
        ),
    )
    previous = body.get("status") or {}
    new = status.compute(obs, previous, ctx.now())
    ctx.conditions[(meta["namespace"], bot_name)] = {
        c["type"]: c["status"] for c in new["conditions"]
    }
    if not status.changed(previous, new):
        return
    await ctx.api.patch_status(meta["namespace"], bot_name, new)
    ctx.metrics.writes.labels("status", names.KIND).inc()
    for event in status.transitions(previous, new):
        await _event(ctx, body, event)


async def _event(ctx: Context, body: Body, event: status.Event) -> None:
    try:
        await ctx.api.post_event(body, event.type, event.reason, event.message)
        ctx.metrics.writes.labels("event", "Event").inc()
    except KubeApiError as exc:  # an Event is best effort; never fail a reconcile on it
        log.warning("could not post event %s: %s", event.reason, exc)
