"""The webhook and worker Deployments: hardened pod templates, probes, resources, the flow
snapshot volume, hash annotations that roll the pods, and the migration init container.

Migrations run as an init container of the worker (`supportbot migrate`), not as a Job: the
worker is the only database user, so it must not start before the schema is current; the
migrator serialises concurrent runs with a PostgreSQL advisory lock, so N replicas starting at
once are safe; it runs with the same image as the new code on every rollout; and a Job would be
immutable (one per version), need cleanup and extra RBAC, and never finish without nodes.
"""

from __future__ import annotations

from typing import Any

from supportbot_operator import names
from supportbot_operator.render import env
from supportbot_operator.render.meta import Inputs, Manifest, labels, metadata, selector_labels
from supportbot_operator.settings import OperatorSettings
from supportbot_operator.spec import Resources, SupportBot

FLOW_VOLUME = "flow"
BACKEND_VOLUME = "backend-secrets"
TMP_VOLUME = "tmp"
TERMINATION_GRACE_SECONDS = 30
"""Above the bot's default SUPPORTBOT_SHUTDOWN_GRACE_SECONDS (25 s) so in-flight turns finish."""
PROGRESS_DEADLINE_SECONDS = 300
"""A rollout not progressing for this long marks the tenant Degraded (PodsFailing)."""


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security(settings: OperatorSettings) -> dict[str, Any]:
    uid = settings.bot_uid
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _resources(res: Resources) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if res.requests:
        out["requests"] = {k: str(v) for k, v in res.requests.items()}
    if res.limits:
        out["limits"] = {k: str(v) for k, v in res.limits.items()}
    return out


def _http_probe(path: str, port: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _image(bot: SupportBot, settings: OperatorSettings) -> tuple[str, str]:
    return (
        bot.spec.image or settings.bot_image,
        bot.spec.image_pull_policy or settings.image_pull_policy,
    )


def _pod_spec(
    bot: SupportBot, component: str, settings: OperatorSettings, containers: list[dict[str, Any]]
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": bot.name,
        "automountServiceAccountToken": False,
        # Service links would inject e.g. SUPPORTBOT_PORT=tcp://... for a Service named
        # "supportbot", overriding the bot's own settings.
        "enableServiceLinks": False,
        "securityContext": _pod_security(settings),
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector_labels(bot, component)},
            }
        ],
        "containers": containers,
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    if bot.spec.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s.name} for s in bot.spec.image_pull_secrets]
    return spec


def _deployment(
    bot: SupportBot,
    component: str,
    annotations: dict[str, str],
    pod_spec: dict[str, Any],
    *,
    max_unavailable: int | str,
) -> Manifest:
    name = f"{bot.name}-{component}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(bot, name, component),
        # No `replicas`: the HorizontalPodAutoscaler owns that field.
        "spec": {
            "selector": {"matchLabels": selector_labels(bot, component)},
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": max_unavailable},
            },
            "template": {
                "metadata": {"labels": labels(bot, component), "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }


def webhook_deployment(bot: SupportBot, inputs: Inputs, settings: OperatorSettings) -> Manifest:
    image, pull = _image(bot, settings)
    container = {
        "name": names.WEBHOOK,
        "image": image,
        "imagePullPolicy": pull,
        "command": ["supportbot", "webhook"],
        "ports": [{"name": "http", "containerPort": names.WEBHOOK_PORT, "protocol": "TCP"}],
        "env": env.webhook_env(bot),
        "resources": _resources(bot.spec.webhook.resources),
        "securityContext": _container_security(),
        "startupProbe": _http_probe("/healthz", "http", period=2, failures=30),
        "livenessProbe": _http_probe("/healthz", "http", period=10, failures=3),
        "readinessProbe": _http_probe("/readyz", "http", period=5, failures=2),
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
    }
    annotations = {
        names.ANNOTATION_SECRETS_HASH: inputs.secrets_hash,
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(names.WEBHOOK_PORT),
        "prometheus.io/path": "/metrics",
    }
    pod = _pod_spec(bot, names.WEBHOOK, settings, [container])
    # Keep full serving capacity during a rollout: surge one, never drop below desired.
    return _deployment(bot, names.WEBHOOK, annotations, pod, max_unavailable=0)


def worker_deployment(bot: SupportBot, inputs: Inputs, settings: OperatorSettings) -> Manifest:
    image, pull = _image(bot, settings)
    flow_dir = str(env.FLOW_PATH.parent)
    container = {
        "name": names.WORKER,
        "image": image,
        "imagePullPolicy": pull,
        "command": ["supportbot", "worker"],
        "ports": [
            {"name": "metrics", "containerPort": names.WORKER_METRICS_PORT, "protocol": "TCP"}
        ],
        "env": env.worker_env(bot),
        "resources": _resources(bot.spec.worker.resources),
        "securityContext": _container_security(),
        "startupProbe": _http_probe("/healthz", "metrics", period=2, failures=30),
        "livenessProbe": _http_probe("/healthz", "metrics", period=10, failures=3),
        "readinessProbe": _http_probe("/healthz", "metrics", period=5, failures=2),
        "volumeMounts": [
            {"name": FLOW_VOLUME, "mountPath": flow_dir, "readOnly": True},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},  # noqa: S108 - an emptyDir
        ],
    }
    migrate = {
        "name": "migrate",
        "image": image,
        "imagePullPolicy": pull,
        "command": ["supportbot", "migrate"],
        "env": env.migrate_env(bot),
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": _container_security(),
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
    }
    pod = _pod_spec(bot, names.WORKER, settings, [container])
    pod["initContainers"] = [migrate]
    pod["volumes"].append(
        {
            "name": FLOW_VOLUME,
            "configMap": {
                "name": names.flow_configmap_name(bot.name),
                "items": [{"key": names.FLOW_FILE, "path": env.FLOW_PATH.name}],
            },
        }
    )
    refs = bot.spec.flow.backend_secret_refs
    if refs:
        # one file per key, named by the key: `{{secret:KEY}}` in the flow's HTTP steps
        mounts = container["volumeMounts"]
        assert isinstance(mounts, list)
        mounts.append(
            {"name": BACKEND_VOLUME, "mountPath": str(env.BACKEND_SECRETS_DIR), "readOnly": True}
        )
        sources = [
            {"secret": {"name": ref.name, "items": [{"key": ref.key, "path": ref.key}]}}
            for ref in refs
        ]
        pod["volumes"].append(
            {"name": BACKEND_VOLUME, "projected": {"sources": sources, "defaultMode": 0o440}}
        )
    annotations = {
        names.ANNOTATION_FLOW_HASH: inputs.flow_hash,
        names.ANNOTATION_SECRETS_HASH: inputs.worker_secrets_hash or inputs.secrets_hash,
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(names.WORKER_METRICS_PORT),
        "prometheus.io/path": "/metrics",
    }
    return _deployment(bot, names.WORKER, annotations, pod, max_unavailable=1)
