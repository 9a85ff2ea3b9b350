"""Capacity: HorizontalPodAutoscalers (autoscaling/v2), or for a worker on `QueueDepth` a KEDA
`ScaledObject` + `TriggerAuthentication` (KEDA owns that HPA), and PodDisruptionBudgets that let
nodes drain one pod at a time.

What `QueueDepth` measures: KEDA's Redis scaler reads the cardinality of the tenant's
``sb:{tenant}:active`` set (`supportbot.keyspace.active_key`): the conversations with
messages not yet answered, whether they wait in their mailbox, in the rq queue, or are being
answered. It lives in Redis, so it counts customers waiting while no worker runs, unlike a
gauge the worker exports (0 or absent exactly then), and unlike the rq queue's length, which the
worker empties at once by admitting up to `concurrency` jobs while their turns still wait.
"""

from __future__ import annotations

from typing import Any

from supportbot.keyspace import active_key
from supportbot_operator import names
from supportbot_operator.render.meta import Manifest, metadata, selector_labels
from supportbot_operator.settings import OperatorSettings
from supportbot_operator.spec import SupportBot


def _cpu(target: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": target},
        },
    }


def _hpa(bot: SupportBot, component: str, low: int, high: int, metrics: list[Any]) -> Manifest:
    name = f"{bot.name}-{component}"
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(bot, name, component),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": metrics,
        },
    }


KEDA_API_VERSION = "keda.sh/v1alpha1"
BACKLOG_TRIGGER = "backlog"


def worker_metrics(bot: SupportBot, settings: OperatorSettings) -> list[dict[str, Any]]:
    """The worker HPA's metrics (CPU and InFlightTurns; QueueDepth goes through KEDA)."""
    scaling = bot.spec.worker.autoscaling
    if scaling.metric == "InFlightTurns":
        return [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": settings.inflight_metric},
                    "target": {
                        "type": "AverageValue",
                        "averageValue": str(scaling.target_average_value),
                    },
                },
            }
        ]
    return [_cpu(scaling.target_cpu_utilization_percentage)]


def trigger_authentication_name(bot: SupportBot) -> str:
    return f"{bot.name}-{names.WORKER}-redis"


def trigger_authentication(bot: SupportBot) -> Manifest:
    """KEDA reads the Redis address (and password) from the tenant's own Secret: references to
    its keys, never a copy of the values."""
    keda = bot.spec.worker.autoscaling.keda
    secret = bot.spec.storage.redis_url_secret_ref.name
    refs = [{"parameter": "address", "name": secret, "key": keda.redis_address_key}]
    if keda.redis_password_key:
        refs.append({"parameter": "password", "name": secret, "key": keda.redis_password_key})
    return {
        "apiVersion": KEDA_API_VERSION,
        "kind": "TriggerAuthentication",
        "metadata": metadata(bot, trigger_authentication_name(bot), names.WORKER),
        "spec": {"secretTargetRef": refs},
    }


def scaled_object(bot: SupportBot) -> Manifest:
    """The worker on its backlog: unanswered conversations per pod (KEDA's Redis scaler on the
    tenant's `active` set, SCARD), scale-up at once, scale-down after the stabilization window."""
    worker = bot.spec.worker
    scaling = worker.autoscaling
    keda = scaling.keda
    name = f"{bot.name}-{names.WORKER}"
    return {
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledObject",
        "metadata": metadata(bot, name, names.WORKER),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": worker.min_replicas,
            "maxReplicaCount": worker.max_replicas,
            "pollingInterval": keda.polling_interval_seconds,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": keda.scale_down_stabilization_seconds
                        }
                    }
                }
            },
            "triggers": [
                {
                    "type": "redis",
                    "name": BACKLOG_TRIGGER,
                    "metadata": {
                        "listName": active_key(bot.name),
                        "listLength": str(scaling.target_average_value),
                        "databaseIndex": str(keda.redis_database),
                        "enableTLS": "true" if keda.redis_tls else "false",
                    },
                    "authenticationRef": {
                        "kind": "TriggerAuthentication",
                        "name": trigger_authentication_name(bot),
                    },
                }
            ],
        },
    }


def uses_keda(bot: SupportBot) -> bool:
    return bot.spec.worker.autoscaling.metric == "QueueDepth"


def autoscalers(
    bot: SupportBot, settings: OperatorSettings, *, keda: bool = True
) -> list[Manifest]:
    """The webhook's CPU HPA and the worker's autoscaler: an HPA (CPU, InFlightTurns) or, for
    QueueDepth, KEDA's TriggerAuthentication + ScaledObject. `keda=False` (KEDA's API is not
    served) renders no worker autoscaler for QueueDepth rather than one that cannot work."""
    webhook, worker = bot.spec.webhook, bot.spec.worker
    out = [
        _hpa(
            bot,
            names.WEBHOOK,
            webhook.min_replicas,
            webhook.max_replicas,
            [_cpu(webhook.autoscaling.target_cpu_utilization_percentage)],
        )
    ]
    if uses_keda(bot):
        if keda:
            out += [trigger_authentication(bot), scaled_object(bot)]
        return out
    out.append(
        _hpa(
            bot,
            names.WORKER,
            worker.min_replicas,
            worker.max_replicas,
            worker_metrics(bot, settings),
        )
    )
    return out


def disruption_budgets(bot: SupportBot) -> list[Manifest]:
    """`maxUnavailable: 1` (not minAvailable) so a single-replica tenant never blocks a drain."""
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": metadata(bot, f"{bot.name}-{component}", component),
            "spec": {
                "maxUnavailable": 1,
                "selector": {"matchLabels": selector_labels(bot, component)},
            },
        }
        for component in (names.WEBHOOK, names.WORKER)
    ]
