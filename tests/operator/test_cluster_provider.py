"""`provider: meta` against a real API server (API-only control plane): the Meta example deploys
with the Meta environment, the Meta callback path on its Ingress and in its status; a missing
Meta Secret or key is named in the status like any other reference, and rotating a Meta Secret
rolls the pods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from supportbot_operator import names
from supportbot_operator.testing import Kubectl, wait_for

pytestmark = pytest.mark.cluster
Docs = Callable[[str], list[dict[str, Any]]]
T = 30.0
EXAMPLE = "03-initech-meta"
DEPLOYMENTS = ("initech-webhook", "initech-worker")


def _env(k: Kubectl, ns: str, deployment: str) -> dict[str, Any]:
    dep = k.get("deployment", deployment, ns) or {}
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _secrets_hash(k: Kubectl, ns: str, deployment: str) -> str:
    dep = k.get("deployment", deployment, ns) or {}
    annotations = dep["spec"]["template"]["metadata"].get("annotations") or {}
    return str(annotations.get(names.ANNOTATION_SECRETS_HASH, ""))


def _deployed(k: Kubectl, ns: str, docs: list[dict[str, Any]]) -> None:
    k.apply(ns, *docs)
    wait_for(lambda: all(k.get("deployment", d, ns) for d in DEPLOYMENTS), T, "Deployments")


def test_meta_example_deploys_with_the_meta_env_path_and_endpoint(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    _deployed(kubectl, ns, example_docs(EXAMPLE))
    worker = _env(kubectl, ns, "initech-worker")
    assert worker["SUPPORTBOT_PROVIDER"] == "meta"
    assert worker["SUPPORTBOT_META_PHONE_NUMBER_ID"] == "106540352242922"
    assert worker["SUPPORTBOT_META_WABA_ID"] == "102290129340398"
    assert worker["SUPPORTBOT_META_API_VERSION"] == "v21.0"
    assert worker["SUPPORTBOT_META_ACCESS_TOKEN"] == {
        "secretKeyRef": {"name": "initech-meta", "key": "access-token"}
    }
    assert "SUPPORTBOT_MSG91_AUTH_KEY" not in worker and "SUPPORTBOT_WEBHOOK_SECRET" not in worker
    webhook = _env(kubectl, ns, "initech-webhook")
    assert webhook["SUPPORTBOT_META_VERIFY_TOKEN"] == {
        "secretKeyRef": {"name": "initech-meta-webhook", "key": "verify-token"}
    }
    assert "SUPPORTBOT_META_ACCESS_TOKEN" not in webhook, "no agent API: the webhook never sends"
    wait_for(lambda: kubectl.get("ingress", "initech", ns), T, "the Ingress")
    ing = kubectl.get("ingress", "initech", ns) or {}
    assert [p["path"] for p in ing["spec"]["rules"][0]["http"]["paths"]] == ["/webhooks/meta"]
    status = wait_for(
        lambda: (kubectl.get("supportbot", "initech", ns) or {}).get("status", {}).get("endpoint"),
        T,
        "status.endpoint",
    )
    assert status == "https://whatsapp.initech.example/webhooks/meta"
    st = (kubectl.get("supportbot", "initech", ns) or {})["status"]
    assert st["statusEndpoint"] == status
    kubectl.wait_condition("initech", ns, "Degraded", "False")


def test_missing_meta_secret_is_named_until_created(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs(EXAMPLE)
    verify = [d for d in docs if d["metadata"]["name"] == "initech-meta-webhook"]
    kubectl.apply(ns, *[d for d in docs if d not in verify])
    cond = kubectl.wait_condition("initech", ns, "Degraded", "True", reason="SecretNotFound")
    assert (
        "Secret 'initech-meta-webhook' (whatsapp.meta.verifyTokenSecretRef) does not exist"
        in cond["message"]
    ), cond
    assert kubectl.get("deployment", "initech-worker", ns) is None, "nothing without Secrets"
    kubectl.apply(ns, *verify)
    wait_for(lambda: kubectl.get("deployment", "initech-worker", ns), T, "Deployments")
    kubectl.wait_condition("initech", ns, "Degraded", "False")


def test_missing_meta_key_is_named(kubectl: Kubectl, ns: str, example_docs: Docs) -> None:
    docs = example_docs(EXAMPLE)
    for d in docs:
        if d["kind"] == "Secret" and d["metadata"]["name"] == "initech-meta":
            del d["stringData"]["app-secret"]
    kubectl.apply(ns, *docs)
    cond = kubectl.wait_condition("initech", ns, "Degraded", "True", reason="SecretKeyNotFound")
    assert (
        "Secret 'initech-meta' has no key 'app-secret' (whatsapp.meta.appSecretSecretRef)"
        in cond["message"]
    ), cond


def test_meta_secret_rotation_rolls_both_deployments(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    _deployed(kubectl, ns, example_docs(EXAMPLE))
    before = {d: _secrets_hash(kubectl, ns, d) for d in DEPLOYMENTS}
    assert all(before.values()), before
    kubectl.patch("secret", "initech-meta", ns, {"stringData": {"app-secret": "rotated"}})

    def rolled() -> bool:
        return all(_secrets_hash(kubectl, ns, d) != before[d] for d in DEPLOYMENTS)

    wait_for(rolled, T, "new secrets hash on both pod templates")
