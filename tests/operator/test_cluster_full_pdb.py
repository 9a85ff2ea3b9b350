"""The operator's PodDisruptionBudget on the full control plane (controller-manager's disruption
controller, KWOK pods): with `replicaCount: 2` a node drain may evict one operator pod, never
both at once."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from supportbot_dev.controlplane import Cluster
from supportbot_operator.testing import Kubectl, wait_for

pytestmark = pytest.mark.fullcluster
ROOT = Path(__file__).resolve().parents[2]
CHART = "charts/supportbot-operator"


def _evict(cluster: Cluster, namespace: str, pod: str) -> tuple[int, str]:
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": namespace},
    }
    res = cluster.kubectl(
        "create",
        "--raw",
        f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction",
        "-f",
        "-",
        stdin=json.dumps(body),
        check=False,
    )
    return res.returncode, res.stdout + res.stderr


def _ready_pods(k: Kubectl, namespace: str) -> list[dict[str, Any]]:
    pods = k.items("pods", namespace, "app.kubernetes.io/name=supportbot-operator")
    return [
        p
        for p in pods
        if p["metadata"].get("deletionTimestamp") is None
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions") or []
        )
    ]


def test_a_drain_evicts_one_operator_replica_not_both(kube_full: Cluster) -> None:
    chart = str(ROOT / CHART)
    ns = f"pdb-{uuid.uuid4().hex[:8]}"
    kube_full.kubectl("create", "namespace", ns)
    k = Kubectl(kube_full.kubectl)
    kube_full.helm(
        "install",
        "sb",
        chart,
        "-n",
        ns,
        "--set=replicaCount=2",
        "--set=crds.install=false",
        "--set=rbac.aggregateClusterRoles=false",
        "--set=admissionWebhook.enabled=false",
    )
    nodes = kube_full.kubectl("get", "nodes", "-o", "name").stdout.split()
    try:
        wait_for(lambda: len(_ready_pods(k, ns)) == 2, 60, "two Ready operator pods")
        wait_for(
            lambda: (
                (k.get("pdb", "sb-supportbot-operator", ns) or {})
                .get("status", {})
                .get("disruptionsAllowed")
                == 1
            ),
            60,
            "the disruption controller to allow one disruption",
        )
        first, second = (p["metadata"]["name"] for p in _ready_pods(k, ns))
        # A drain cordons first: the evicted replica's replacement cannot start elsewhere.
        kube_full.kubectl("cordon", *nodes)
        code, out = _evict(kube_full, ns, first)
        assert code == 0, out
        code, out = _evict(kube_full, ns, second)
        assert code != 0 and "disruption budget" in out, out
    finally:
        kube_full.kubectl("uncordon", *nodes)
        kube_full.helm("uninstall", "sb", "-n", ns)
