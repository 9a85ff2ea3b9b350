"""Pure renderers: a parsed `SupportBot` + resolved inputs + operator settings -> the complete
list of child manifests (plain dicts, ready for server-side apply). No client, clock or
environment access; `render_children` is the one entry point the reconciler uses."""

from __future__ import annotations

from typing import Any

from supportbot_operator import names
from supportbot_operator.render import network, scaling, workloads
from supportbot_operator.render.meta import Inputs, Manifest, metadata, stamp
from supportbot_operator.settings import OperatorSettings
from supportbot_operator.spec import SupportBot

__all__ = ["Inputs", "Manifest", "render_children", "service_account"]


def service_account(bot: SupportBot) -> Manifest:
    """The pods' identity; the bot never calls the Kubernetes API, so no token is mounted."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(bot, bot.name, "identity"),
        "automountServiceAccountToken": False,
    }


def flow_snapshot(bot: SupportBot, inputs: Inputs) -> Manifest:
    """The last validated flow; pods mount this copy, never the user's ConfigMap, so an
    invalid edit can't reach a restarting pod."""
    ref = bot.spec.flow.config_map_ref
    meta = metadata(bot, names.flow_configmap_name(bot.name), names.FLOW)
    meta["annotations"] = {
        names.ANNOTATION_FLOW_HASH: inputs.flow_hash,
        names.ANNOTATION_FLOW_SOURCE: f"{ref.name}/{ref.key}",
    }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": inputs.flow_data()}


def render_children(
    bot: SupportBot, inputs: Inputs, settings: OperatorSettings, *, keda: bool = True
) -> list[Manifest]:
    """Every child the tenant needs, in apply order (config before the pods that use it).
    `keda`: whether the cluster serves KEDA's API (a QueueDepth worker's autoscaler needs it)."""
    worker = workloads.worker_deployment(bot, inputs, settings)
    if scaling.uses_keda(bot) and not keda:
        # No autoscaler owns `replicas` then: hold the worker at its floor.
        worker["spec"]["replicas"] = bot.spec.worker.min_replicas
    children: list[dict[str, Any]] = [
        service_account(bot),
        flow_snapshot(bot, inputs),
        network.webhook_service(bot),
        workloads.webhook_deployment(bot, inputs, settings),
        worker,
        *scaling.autoscalers(bot, settings, keda=keda),
        *scaling.disruption_budgets(bot),
    ]
    if bot.spec.network_policy.enabled:
        children.append(network.network_policy(bot))
    if bot.spec.ingress.enabled:
        children.append(network.ingress(bot))
    return [stamp(child) for child in children]
