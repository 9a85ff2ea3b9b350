"""The operator with a flow that calls an in-cluster backend over plain http (API-only control
plane): the worker gets the allow-list and the backend key volume; narrowing the allow-list so
the running flow no longer passes holds the tenant (Degraded/InvalidFlow, the worker's pod
template unchanged) until flow and list agree again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from supportbot.settings import env_var_names
from supportbot_operator.testing import ACME_CHILDREN, Kubectl, wait_for

pytestmark = pytest.mark.cluster
Docs = Callable[[str], list[dict[str, Any]]]
T = 30.0
HOST = "orders.acme.svc.cluster.local:8080"
ALLOW_VAR = env_var_names()["flow_http_allow_hosts"]


def _worker_pod(k: Kubectl, ns: str) -> dict[str, Any]:
    dep = k.get("deployment", "acme-worker", ns) or {}
    pod: dict[str, Any] = dep.get("spec", {}).get("template", {}).get("spec", {})
    return pod


def _allow_env(k: Kubectl, ns: str) -> str | None:
    pod = _worker_pod(k, ns)
    env = {e["name"]: e.get("value") for c in pod.get("containers", []) for e in c["env"]}
    return env.get(ALLOW_VAR)


def test_narrowed_allow_list_holds_the_tenant(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs("01-acme-retail")
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            doc["data"]["flow.yaml"] = doc["data"]["flow.yaml"].replace(
                "https://orders.acme.example", f"http://{HOST}"
            )
        if doc["kind"] == "SupportBot":
            doc["spec"]["flow"]["httpAllowHosts"] = [HOST]
    kubectl.apply(ns, *docs)
    wait_for(lambda: all(kubectl.get(k, n, ns) for k, n in ACME_CHILDREN), T, "every child")
    wait_for(lambda: _allow_env(kubectl, ns) == HOST, T, "the allow-list in the worker env")
    volumes = {v["name"]: v for v in _worker_pod(kubectl, ns)["volumes"]}
    assert volumes["backend-secrets"]["projected"]["sources"] == [
        {
            "secret": {
                "name": "acme-orders-api",
                "items": [{"key": "orders-api-key", "path": "orders-api-key"}],
            }
        }
    ]

    kubectl.patch("supportbot", "acme", ns, {"spec": {"flow": {"httpAllowHosts": ["other"]}}})
    cond = kubectl.wait_condition("acme", ns, "Degraded", "True")
    assert cond["reason"] == "InvalidFlow"
    assert f"plain http:// to {HOST.split(':')[0]} is refused" in cond["message"]
    assert _allow_env(kubectl, ns) == HOST, "nothing rolled out"

    kubectl.patch("supportbot", "acme", ns, {"spec": {"flow": {"httpAllowHosts": [HOST, "x"]}}})
    kubectl.wait_condition("acme", ns, "Degraded", "False")
    wait_for(lambda: _allow_env(kubectl, ns) == f"{HOST},x", T, "the new allow-list")
