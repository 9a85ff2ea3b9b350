"""Full control plane (controller-manager, scheduler, KWOK nodes): pods become ready and roll
out (Ready stays False: the cluster has no metrics API, so the autoscalers cannot scale); a
flow edit rolls the worker to a new ReplicaSet; an invalid flow leaves the running pods alone;
deleting the SupportBot garbage-collects every child."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from supportbot_dev.controlplane import Cluster
from supportbot_operator import inputs
from supportbot_operator.testing import Kubectl, OperatorProcess, wait_for

pytestmark = pytest.mark.fullcluster
T = 90.0


@pytest.fixture(scope="module")
def full(
    full_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Cluster, OperatorProcess]]:
    op = OperatorProcess.start(
        kubeconfig=full_cluster.kubeconfig,
        log_path=tmp_path_factory.mktemp("full") / "operator.log",
        namespaces="full-*",
        env={
            "SUPPORTBOT_OPERATOR_RESYNC_SECONDS": "5",
            "SUPPORTBOT_OPERATOR_DEBOUNCE_SECONDS": "0.2",
        },
    )
    yield full_cluster, op
    op.stop()


def _status(k: Kubectl, ns: str) -> dict[str, Any]:
    found: dict[str, Any] = (k.get("supportbot", "acme", ns) or {}).get("status") or {}
    return found


def _rolled_out(k: Kubectl, ns: str) -> None:
    """Both Deployments rolled out on the current spec and available (what Ready would say
    if the cluster could autoscale)."""
    wait_for(
        lambda: (
            (k.condition("acme", ns, "Reconciling") or {}).get("reason") == "Reconciled"
            and _status(k, ns).get("webhook", {}).get("ready") == "2/2"
            and _status(k, ns).get("worker", {}).get("ready") == "1/1"
        ),
        T,
        "both Deployments rolled out",
    )
    k.wait_condition("acme", ns, "Autoscaling", "False", T)


def _worker_replicasets(k: Kubectl, ns: str) -> list[dict[str, Any]]:
    return k.items("replicasets", ns, "app.kubernetes.io/component=worker")


def test_lifecycle_on_a_full_cluster(
    full: tuple[Cluster, OperatorProcess], example_docs: Callable[[str], list[dict[str, Any]]]
) -> None:
    cluster, op = full
    k = Kubectl(cluster.kubectl)
    ns = "full-" + __import__("uuid").uuid4().hex[:8]
    cluster.kubectl("create", "namespace", ns)
    docs = example_docs("01-acme-retail")
    k.apply(ns, *docs)

    _rolled_out(k, ns)
    st = _status(k, ns)
    assert st["webhook"]["ready"] == "2/2", "the HPA's minReplicas took effect and pods are ready"
    assert st["worker"]["ready"] == "1/1"
    pods = k.items("pods", ns, "app.kubernetes.io/instance=acme")
    assert len(pods) == 3 and all(p["status"]["phase"] == "Running" for p in pods)
    events = {
        e["reason"] for e in k.items("events", ns) if e["involvedObject"]["kind"] == "SupportBot"
    }
    assert "Applied" in events
    # This cluster serves no resource metrics API (no metrics-server), so the CPU autoscalers
    # cannot scale and the tenant truthfully says so instead of Ready.
    ready = k.condition("acme", ns, "Ready") or {}
    assert (ready.get("status"), ready.get("reason")) == ("False", "FailedGetResourceMetric")
    assert (k.condition("acme", ns, "Autoscaling") or {}).get("status") == "False"

    # Flow edit -> new pod template -> new ReplicaSet -> Ready again on the new flow.
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    new_text = cm["data"]["flow.yaml"].replace("Welcome to Acme Retail support.", "Hello again!")
    k.patch("configmap", "acme-flow", ns, {"data": {"flow.yaml": new_text}})
    wait_for(lambda: len(_worker_replicasets(k, ns)) == 2, T, "a second worker ReplicaSet")
    wait_for(
        lambda: _status(k, ns).get("flowHash") == inputs.flow_hash(new_text), T, "new flowHash"
    )
    _rolled_out(k, ns)

    # Invalid flow -> Degraded, no new ReplicaSet, pods keep running.
    k.patch("configmap", "acme-flow", ns, {"data": {"flow.yaml": "version: 1\nname: broken\n"}})
    k.wait_condition("acme", ns, "Degraded", "True", T)
    assert len(_worker_replicasets(k, ns)) == 2
    assert _status(k, ns)["flowHash"] == inputs.flow_hash(new_text)
    assert all(
        p["status"]["phase"] == "Running"
        for p in k.items("pods", ns, "app.kubernetes.io/instance=acme")
    )

    # Delete -> the garbage collector removes every child through the owner references.
    k.run("delete", "supportbot", "acme", "-n", ns)
    wait_for(
        lambda: (
            not k.items("deployments", ns)
            and not k.items("services", ns)
            and k.get("configmap", "acme-validated-flow", ns) is None
            and not k.items("hpa", ns)
        ),
        T,
        "children garbage-collected",
    )
    assert k.get("configmap", "acme-flow", ns) is not None, "the user's own ConfigMap stays"
