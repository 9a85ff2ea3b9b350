"""How traffic reaches the tenant: the webhook Service (port 80 -> 8080), the optional Ingress
(the provider's webhook paths, `/webhooks/msg91/...` or `/webhooks/meta`, plus the agent API
when asked to; never /metrics), the optional NetworkPolicy, and the URLs reported in the
status."""

from __future__ import annotations

from dataclasses import dataclass
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
    service = names.webhook_name(bot.name)
    prefixes = [webhook_paths(bot).prefix]
    if agent_api_on_ingress(bot):
        prefixes.append(names.AGENT_API_PATH)
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": prefix,
                    "pathType": "Prefix",
                    "backend": {"service": {"name": service, "port": {"name": "http"}}},
                }
                for prefix in prefixes
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
    """Ingress to the bot pods: the webhook port from anywhere (MSG91 or Meta arrives through
    the ingress controller), worker metrics only from the selected namespaces. Egress is left
    open: Redis, PostgreSQL, MSG91 / Meta and OpenRouter live at addresses the operator cannot
    know."""
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


def agent_api_on_ingress(bot: SupportBot) -> bool:
    api = bot.spec.agent_api
    return bool(
        bot.spec.jwt_secret_ref is not None
        and api is not None
        and api.expose_via_ingress
        and bot.spec.ingress.enabled
    )


@dataclass(frozen=True)
class WebhookPaths:
    """Where the tenant's provider calls the webhook pods."""

    prefix: str
    """Ingress path prefix covering them all."""
    inbound: str
    """Messages (for Meta also the GET verification handshake)."""
    status: str
    """Delivery reports (Meta sends them to the same URL as messages)."""


def webhook_paths(bot: SupportBot) -> WebhookPaths:
    if bot.spec.whatsapp.provider == "meta":
        path = names.META_WEBHOOK_PATH
        return WebhookPaths(prefix=path, inbound=path, status=path)
    return WebhookPaths(names.INGRESS_PATH_PREFIX, names.INBOUND_PATH, names.STATUS_PATH)


@dataclass(frozen=True)
class Endpoints:
    """URLs for the status: what the provider calls, and where agents reach the agent API."""

    inbound: str
    status: str
    agent_api: str | None
    """None while the agent API is off."""


def endpoints(bot: SupportBot, cluster_domain: str) -> Endpoints:
    """The URLs the provider must call for inbound messages and for delivery reports (through
    the Ingress when there is one, else the in-cluster Service; one URL for Meta), and the
    agent API's base URL (through the Ingress only when it routes the API there)."""
    spec = bot.spec.ingress
    svc = names.webhook_name(bot.name)
    internal = f"http://{svc}.{bot.namespace}.svc.{cluster_domain}"
    if spec.enabled and spec.host:
        scheme = "https" if spec.tls_secret_name else "http"
        public = f"{scheme}://{spec.host}"
    else:
        public = internal
    agent_base = public if agent_api_on_ingress(bot) else internal
    paths = webhook_paths(bot)
    return Endpoints(
        inbound=public + paths.inbound,
        status=public + paths.status,
        agent_api=agent_base + names.AGENT_API_PATH if bot.spec.jwt_secret_ref else None,
    )
