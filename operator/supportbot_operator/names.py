"""Names the operator, its CRD and its children share: API coordinates, labels, annotations,
child names, ports and paths. Constants only; no logic beyond string formatting."""

from __future__ import annotations

from typing import Final

GROUP: Final = "supportbot.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "SupportBot"
PLURAL: Final = "supportbots"
SINGULAR: Final = "supportbot"
SHORT_NAME: Final = "sbot"
CATEGORY: Final = "supportbot"
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

FIELD_MANAGER: Final = "supportbot-operator"
"""The one server-side-apply field manager for everything the operator writes."""

# --- labels (app.kubernetes.io recommended set) -------------------------------------------
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
APP_NAME: Final = "supportbot"
MANAGED_BY: Final = "supportbot-operator"

LABEL_FLOW: Final = f"{GROUP}/flow"
"""`"true"` on a ConfigMap opts it into flow validation at admission (`kubectl apply` time)."""

# --- admission webhooks (URL paths of the operator's webhook server = kopf handler ids) -------
WEBHOOK_SUPPORTBOTS: Final = "validate-supportbot"
WEBHOOK_FLOWS: Final = "validate-flow"

# --- annotations ---------------------------------------------------------------------------
ANNOTATION_PAUSED: Final = f"{GROUP}/paused"
"""`"true"` on a SupportBot pauses reconciliation (same effect as `spec.paused: true`)."""
ANNOTATION_FLOW_HASH: Final = f"{GROUP}/flow-hash"
ANNOTATION_SECRETS_HASH: Final = f"{GROUP}/secrets-hash"
ANNOTATION_FLOW_SOURCE: Final = f"{GROUP}/flow-source"
ANNOTATION_APPLIED: Final = f"{GROUP}/applied-hash"
"""Hash of what the operator last applied to a child: a change of it (e.g. a field we no longer
set) triggers an apply even when the live object still contains everything we want."""

# --- components and child names ------------------------------------------------------------
WEBHOOK: Final = "webhook"
WORKER: Final = "worker"
FLOW: Final = "flow"

FLOW_FILE: Final = "flow.yaml"
"""Key of the operator's validated flow snapshot ConfigMap; the bot reads it as this file."""

WEBHOOK_PORT: Final = 8080
WORKER_METRICS_PORT: Final = 9090
SERVICE_PORT: Final = 80
INBOUND_PATH: Final = "/webhooks/msg91/inbound"
STATUS_PATH: Final = "/webhooks/msg91/status"
INGRESS_PATH_PREFIX: Final = "/webhooks/msg91"
META_WEBHOOK_PATH: Final = "/webhooks/meta"
"""`provider: meta`: Meta's one callback URL (GET verification handshake, POST messages and
statuses); also the tenant's Ingress path prefix."""
AGENT_API_PATH: Final = "/api/v1"
"""Where the webhook pods serve the agent API (the bot's `supportbot.agentapi.app.API_PREFIX`;
a test checks they agree - the operator does not import the bot's web stack)."""

MAX_NAME_LENGTH: Final = 40
"""Longest SupportBot name: children append suffixes such as ``-webhook`` (63-char limits)."""


def webhook_name(bot: str) -> str:
    return f"{bot}-{WEBHOOK}"


def worker_name(bot: str) -> str:
    return f"{bot}-{WORKER}"


def flow_configmap_name(bot: str) -> str:
    """The operator's validated copy of the tenant's flow (reserved: the CRD rejects a
    flow.configMapRef with this name)."""
    return f"{bot}-validated-flow"
