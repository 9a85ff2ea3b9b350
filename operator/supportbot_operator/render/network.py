"""How traffic reaches the tenant: the webhook Service (port 80 -> 8080), the optional Ingress
(only the MSG91 webhook paths, never /metrics) and the optional NetworkPolicy."""

from __future__ import annotations

from typing import Any

from supportbot_operator import names
from supportbot_operator.render.meta import Manifest, metadata, selector_labels
from supportbot_operator.spec import SupportBot


def webhook_service(bot: SupportBot) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(bot, names.webhook_name(bot.name), names.WEBHOOK),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(bot, names.WEBHOOK),
            "ports": [
                {
                    "name": "http",
                    "port": names.SERVICE_PORT,
                    "targetPort": "http",
                    "protocol": "TCP",
                    "appProtocol": "http",
                }
            ],
        },
    }


def ingress(bot: SupportBot) -> Manifest:
    spec = bot.spec.ingress
    meta = metadata(bot, bot.name, names.WEBHOOK)
    if spec.annotations:
        meta["annotations"] = dict(spec.annotations)
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": names.INGRESS_PATH_PREFIX,
                    "pathType": "Prefix",
                    "backend": {
                        "service": {
                            "name": names.webhook_name(bot.name),
                            "port": {"name": "http"},
                        }
                    },
                }
            ]
        }
    }
    if spec.host:
        rule["host"] = spec.host
    body: dict[str, Any] = {"rules": [rule]}
    if spec.class_name:
        body["ingressClassName"] = spec.class_name
    if spec.tls_secret_name and spec.host:
        body["tls"] = [{"hosts": [spec.host], "secretName": spec.tls_secret_name}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta,
        "spec": body,
    }


def network_policy(bot: SupportBot) -> Manifest:
    """Ingress to the bot pods: the webhook port from anywhere (MSG91 arrives through the
    ingress controller), worker metrics only from the selected namespaces. Egress is left open:
    Redis, PostgreSQL, MSG91 and OpenRouter live at addresses the operator cannot know."""
    selector = bot.spec.network_policy.metrics_namespace_selector
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(bot, bot.name, "network"),
        "spec": {
            "podSelector": {"matchLabels": {names.LABEL_INSTANCE: bot.name}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"ports": [{"protocol": "TCP", "port": names.WEBHOOK_PORT}]},
                {
                    "from": [{"namespaceSelector": {"matchLabels": dict(selector)}}],
                    "ports": [{"protocol": "TCP", "port": names.WORKER_METRICS_PORT}],
                },
            ],
        },
    }


def endpoints(bot: SupportBot, cluster_domain: str) -> tuple[str, str]:
    """The URLs MSG91 must call for inbound messages and for delivery reports."""
    spec = bot.spec.ingress
    if spec.enabled and spec.host:
        scheme = "https" if spec.tls_secret_name else "http"
        base = f"{scheme}://{spec.host}"
    else:
        svc = names.webhook_name(bot.name)
        base = f"http://{svc}.{bot.namespace}.svc.{cluster_domain}"
    return base + names.INBOUND_PATH, base + names.STATUS_PATH
