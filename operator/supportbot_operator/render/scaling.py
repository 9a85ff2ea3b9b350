"""Capacity: HorizontalPodAutoscalers (autoscaling/v2) for both Deployments and
PodDisruptionBudgets that let nodes drain one pod at a time."""

from __future__ import annotations

from typing import Any

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


def worker_metrics(bot: SupportBot, settings: OperatorSettings) -> list[dict[str, Any]]:
    scaling = bot.spec.worker.autoscaling
    if scaling.metric == "QueueDepth":
        return [
            {
                "type": "External",
                "external": {
                    "metric": {
                        "name": settings.queue_depth_metric,
                        "selector": {"matchLabels": {"tenant": bot.name}},
                    },
                    "target": {
                        "type": "AverageValue",
                        "averageValue": str(scaling.target_average_value),
                    },
                },
            }
        ]
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


def autoscalers(bot: SupportBot, settings: OperatorSettings) -> list[Manifest]:
    webhook, worker = bot.spec.webhook, bot.spec.worker
    return [
        _hpa(
            bot,
            names.WEBHOOK,
            webhook.min_replicas,
            webhook.max_replicas,
            [_cpu(webhook.autoscaling.target_cpu_utilization_percentage)],
        ),
        _hpa(
            bot,
            names.WORKER,
            worker.min_replicas,
            worker.max_replicas,
            worker_metrics(bot, settings),
        ),
    ]


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
