"""`spec.agentApi` on a real API server: a missing JWT Secret key holds the tenant Degraded (as
any missing reference), creating it deploys the webhook with the JWT secret and the MSG91
delivery settings by reference and reports the API URL; rotating it rolls the webhook only;
switching the API off removes the credentials and the URL."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from supportbot_operator import names
from supportbot_operator.testing import Kubectl, wait_for

pytestmark = pytest.mark.cluster
Docs = Callable[[str], list[dict[str, Any]]]
T = 30.0


def _webhook(k: Kubectl, ns: str) -> dict[str, Any]:
    found: dict[str, Any] = k.get("deployment", "acme-webhook", ns) or {}
    return found


def _env(dep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    containers = dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
    return {e["name"]: e for e in containers[0].get("env", [])}


def _secrets_hash(k: Kubectl, name: str, ns: str) -> str:
    dep = k.get("deployment", name, ns) or {}
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    return str(annotations[names.ANNOTATION_SECRETS_HASH])


def _status(k: Kubectl, ns: str) -> dict[str, Any]:
    found: dict[str, Any] = (k.get("supportbot", "acme", ns) or {}).get("status") or {}
    return found


def test_agent_api_lifecycle(kubectl: Kubectl, ns: str, example_docs: Docs) -> None:
    docs = copy.deepcopy(example_docs("01-acme-retail"))
    bot = next(d for d in docs if d["kind"] == "SupportBot")
    bot["spec"]["whatsapp"]["apiBaseUrl"] = "http://msg91-sim.test:8080"
    bot["spec"]["whatsapp"]["outOfWindowTemplate"] = {"name": "followup", "language": "en_US"}
    assert bot["spec"]["agentApi"] == {
        "jwtSecretRef": {"name": "acme-agent-api", "key": "jwt-secret"}
    }
    jwt_secret = next(d for d in docs if d["metadata"]["name"] == "acme-agent-api")
    jwt_secret["stringData"] = {"other": "x"}  # the Secret exists, the key does not
    kubectl.apply(ns, *docs)

    cond = kubectl.wait_condition("acme", ns, "Degraded", "True", T, reason="SecretKeyNotFound")
    assert (
        "Secret 'acme-agent-api' has no key 'jwt-secret' (agentApi.jwtSecretRef)" in cond["message"]
    )
    assert kubectl.get("deployment", "acme-webhook", ns) is None, "held until the key exists"

    kubectl.patch("secret", "acme-agent-api", ns, {"stringData": {"jwt-secret": "j" * 48}})
    wait_for(lambda: "SUPPORTBOT_JWT_SECRET" in _env(_webhook(kubectl, ns)), T, "JWT on webhook")
    kubectl.wait_condition("acme", ns, "Degraded", "False", T)
    env = _env(_webhook(kubectl, ns))
    assert env["SUPPORTBOT_JWT_SECRET"] == {
        "name": "SUPPORTBOT_JWT_SECRET",
        "valueFrom": {"secretKeyRef": {"name": "acme-agent-api", "key": "jwt-secret"}},
    }
    assert env["SUPPORTBOT_MSG91_AUTH_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "acme-whatsapp",
        "key": "auth-key",
    }
    assert env["SUPPORTBOT_MSG91_BASE_URL"]["value"] == "http://msg91-sim.test:8080"
    assert env["SUPPORTBOT_SEND_RATE_LIMIT_PER_MINUTE"]["value"] == "120"
    assert env["SUPPORTBOT_OUT_OF_WINDOW_TEMPLATE_NAME"]["value"] == "followup"
    assert "SUPPORTBOT_OPENROUTER_API_KEY" not in env
    worker_env = _env(kubectl.get("deployment", "acme-worker", ns) or {})
    assert "SUPPORTBOT_JWT_SECRET" not in worker_env
    url = f"http://acme-webhook.{ns}.svc.cluster.local/api/v1"
    wait_for(lambda: _status(kubectl, ns).get("agentApiEndpoint") == url, T, "agentApiEndpoint")

    # Rotation of the agents' signing secret rolls the webhook pods, not the workers.
    before = {d: _secrets_hash(kubectl, d, ns) for d in ("acme-webhook", "acme-worker")}
    kubectl.patch("secret", "acme-agent-api", ns, {"stringData": {"jwt-secret": "k" * 48}})
    wait_for(
        lambda: _secrets_hash(kubectl, "acme-webhook", ns) != before["acme-webhook"],
        T,
        "webhook rolled after the rotation",
    )
    assert _secrets_hash(kubectl, "acme-worker", ns) == before["acme-worker"]
    wait_for(
        lambda: (
            _status(kubectl, ns).get("secretsHash") == _secrets_hash(kubectl, "acme-webhook", ns)
        ),
        T,
        "status.secretsHash follows the webhook",
    )

    # Off: the webhook loses the JWT and MSG91 credentials, the status loses the URL.
    kubectl.patch("supportbot", "acme", ns, {"spec": {"agentApi": {"enabled": False}}})
    wait_for(lambda: "SUPPORTBOT_JWT_SECRET" not in _env(_webhook(kubectl, ns)), T, "JWT removed")
    assert "SUPPORTBOT_MSG91_AUTH_KEY" not in _env(_webhook(kubectl, ns))
    wait_for(lambda: "agentApiEndpoint" not in _status(kubectl, ns), T, "agentApiEndpoint cleared")
