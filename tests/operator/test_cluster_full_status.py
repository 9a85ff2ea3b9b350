"""Truthful status and ownership on the full control plane (controller-manager with the HPA
controller and the garbage collector, KWOK pods): broken autoscaling is not Ready, a worker
scaled to 0 by hand says so, and children orphaned by `--cascade=orphan` are adopted."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from supportbot_dev.controlplane import Cluster
from supportbot_operator import names
from supportbot_operator.testing import Kubectl, OperatorProcess, wait_for

pytestmark = pytest.mark.fullcluster
Docs = Callable[[str], list[dict[str, Any]]]
T = 90.0


@pytest.fixture(scope="module")
def full(full_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    op = OperatorProcess.start(
        kubeconfig=full_cluster.kubeconfig,
        log_path=tmp_path_factory.mktemp("full-status") / "operator.log",
        namespaces="fst-*",
        env={
            "SUPPORTBOT_OPERATOR_RESYNC_SECONDS": "5",
            "SUPPORTBOT_OPERATOR_DEBOUNCE_SECONDS": "0.2",
        },
    )
    yield Kubectl(full_cluster.kubectl)
    op.stop()


def _ns(k: Kubectl) -> str:
    ns = f"fst-{uuid.uuid4().hex[:8]}"
    k.run("create", "namespace", ns)
    return ns


def _conditions(k: Kubectl, name: str, ns: str) -> dict[str, dict[str, Any]]:
    bot = k.get("supportbot", name, ns) or {}
    return {c["type"]: c for c in (bot.get("status") or {}).get("conditions", [])}


def _hpa_condition(k: Kubectl, name: str, ns: str, kind: str) -> dict[str, Any] | None:
    hpa = k.get("hpa", name, ns) or {}
    for cond in (hpa.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            found: dict[str, Any] = cond
            return found
    return None


def test_queue_depth_without_keda_is_degraded_and_not_ready(
    full: Kubectl, example_docs: Docs
) -> None:
    """This cluster has no KEDA: a QueueDepth tenant gets no worker autoscaler (no HPA that
    cannot work) and says why in Autoscaling, Degraded and Ready."""
    k, ns = full, _ns(full)
    k.apply(ns, *example_docs("02-globex-telecom"))
    wait_for(
        lambda: (
            (k.get("supportbot", "globex", ns) or {})
            .get("status", {})
            .get("worker", {})
            .get("ready")
            == "2/2"
        ),
        T,
        "worker pods ready",
    )
    autoscaling = k.wait_condition(
        "globex", ns, "Autoscaling", "False", T, reason="KEDANotInstalled"
    )
    assert "keda.sh/v1alpha1" in autoscaling["message"], autoscaling
    conds = _conditions(k, "globex", ns)
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == (
        "True",
        "KEDANotInstalled",
    )
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", "KEDANotInstalled")
    assert k.get("hpa", "globex-worker", ns) is None
    assert k.get("hpa", "globex-webhook", ns) is not None
    # No resource metrics API here either: the webhook's CPU autoscaler says so as well.
    wait_for(
        lambda: "globex-webhook" in _conditions(k, "globex", ns)["Autoscaling"]["message"],
        T,
        "the webhook autoscaler's failure in the condition",
    )


def test_a_worker_scaled_to_zero_by_hand_says_why(full: Kubectl, example_docs: Docs) -> None:
    k, ns = full, _ns(full)
    k.apply(ns, *example_docs("01-acme-retail"))
    wait_for(
        lambda: _conditions(k, "acme", ns).get("Reconciling", {}).get("reason") == "Reconciled",
        T,
        "every pod rolled out",
    )
    k.run("scale", "deployment", "acme-worker", "-n", ns, "--replicas=0")
    ready = k.wait_condition("acme", ns, "Ready", "False", T, reason="ScaledToZero")
    assert "acme-worker" in ready["message"] and "kubectl scale" in ready["message"], ready
    conds = _conditions(k, "acme", ns)
    assert conds["Reconciling"]["reason"] != "RollingOut", conds["Reconciling"]
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("True", "ScaledToZero")


def test_children_orphaned_by_a_cascade_orphan_delete_are_adopted(
    full: Kubectl, example_docs: Docs
) -> None:
    k, ns = full, _ns(full)
    docs = example_docs("01-acme-retail")
    k.apply(ns, *docs)
    wait_for(
        lambda: k.get("deployment", "acme-worker", ns) and k.get("hpa", "acme-worker", ns),
        T,
        "children",
    )
    deployment_uid = (k.get("deployment", "acme-worker", ns) or {})["metadata"]["uid"]
    k.run("delete", "supportbot", "acme", "-n", ns, "--cascade=orphan", "--wait=true")
    wait_for(
        lambda: (
            not (k.get("deployment", "acme-worker", ns) or {})["metadata"].get("ownerReferences")
        ),
        T,
        "the garbage collector to orphan the children",
    )

    k.apply(ns, *[d for d in docs if d["kind"] == names.KIND])
    uid = (k.get("supportbot", "acme", ns) or {})["metadata"]["uid"]
    wait_for(
        lambda: (
            [
                o["uid"]
                for o in (k.get("deployment", "acme-worker", ns) or {})["metadata"].get(
                    "ownerReferences", []
                )
            ]
            == [uid]
        ),
        T,
        "the orphaned Deployment adopted",
    )
    # Degraded may be True here for the local cluster's own reason (no metrics API: the adopted
    # HPAs say FailedGetResourceMetric); what matters is that no name is reported as taken.
    degraded = wait_for(lambda: k.condition("acme", ns, "Degraded"), T, "a Degraded condition")
    assert degraded is not None
    assert degraded["reason"] != "NameConflict", degraded
    assert "NameConflict" not in degraded["message"], degraded
    assert (k.get("deployment", "acme-worker", ns) or {})["metadata"]["uid"] == deployment_uid
    for kind, name in (("service", "acme-webhook"), ("configmap", "acme-validated-flow")):
        owners = (k.get(kind, name, ns) or {})["metadata"].get("ownerReferences", [])
        assert [o["uid"] for o in owners] == [uid], (kind, name)
