"""Ownership on a real API server (API-only control plane, so no garbage collector): children a
SupportBot of the same name left behind are adopted by its successor; objects some other
controller owns, or that do not carry the operator's labels, are never taken over."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from supportbot_operator.testing import ACME_CHILDREN, Kubectl, wait_for

pytestmark = pytest.mark.cluster
Docs = Callable[[str], list[dict[str, Any]]]
T = 30.0


def _owner_uids(k: Kubectl, kind: str, name: str, ns: str) -> list[str]:
    child = k.get(kind, name, ns) or {}
    return [o["uid"] for o in child.get("metadata", {}).get("ownerReferences") or []]


def _uid(k: Kubectl, ns: str) -> str:
    uid: str = (k.get("supportbot", "acme", ns) or {})["metadata"]["uid"]
    return uid


def test_children_of_an_earlier_incarnation_are_adopted(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs("01-acme-retail")
    kubectl.apply(ns, *docs)
    wait_for(lambda: all(kubectl.get(k, n, ns) for k, n in ACME_CHILDREN), T, "every child")
    first = _uid(kubectl, ns)
    service_uid = (kubectl.get("service", "acme-webhook", ns) or {})["metadata"]["uid"]
    # No garbage collector here: the children stay, owned by a SupportBot that is gone.
    kubectl.run("delete", "supportbot", "acme", "-n", ns, "--wait=true")
    kubectl.apply(ns, *[d for d in docs if d["kind"] == "SupportBot"])
    second = _uid(kubectl, ns)
    assert second != first
    wait_for(
        lambda: all(_owner_uids(kubectl, k, n, ns) == [second] for k, n in ACME_CHILDREN),
        T,
        "every child owned by the new SupportBot only",
    )
    kubectl.wait_condition("acme", ns, "Degraded", "False")
    assert (kubectl.get("service", "acme-webhook", ns) or {})["metadata"]["uid"] == service_uid
    adopted = [e for e in kubectl.items("events", ns) if e["reason"] == "Adopted"]
    assert adopted and adopted[0]["type"] == "Normal"


def test_an_object_another_controller_owns_is_a_conflict(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    """Labels alone do not make an object ours when some other controller owns it."""
    owner = kubectl.apply(
        ns, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "someone"}}
    )
    assert owner.returncode == 0
    owner_uid = (kubectl.get("configmap", "someone", ns) or {})["metadata"]["uid"]
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "acme-webhook",
            "labels": {
                "app.kubernetes.io/managed-by": "supportbot-operator",
                "app.kubernetes.io/instance": "acme",
            },
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "someone",
                    "uid": owner_uid,
                    "controller": True,
                }
            ],
        },
        "spec": {"ports": [{"port": 1234}]},
    }
    kubectl.apply(ns, foreign)
    kubectl.apply(ns, *example_docs("01-acme-retail"))
    cond = kubectl.wait_condition("acme", ns, "Degraded", "True", reason="NameConflict")
    assert "controlled by ConfigMap someone" in cond["message"], cond
    assert _owner_uids(kubectl, "service", "acme-webhook", ns) == [owner_uid]
