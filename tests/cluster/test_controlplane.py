"""The local control plane is a real Kubernetes: API objects, and in full mode pods and GC."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from kubernetes import client

from supportbot_dev import controlplane
from supportbot_dev.binaries import BUILD_SCRIPT
from supportbot_dev.controlplane import Cluster
from supportbot_dev.procs import wait_until


def _pinned(name: str) -> str:
    match = re.search(rf'^{name}="\$\{{{name}:-(v[0-9.]+)\}}"', BUILD_SCRIPT.read_text(), re.M)
    assert match, f"{name} not pinned in {BUILD_SCRIPT}"
    return match.group(1)


@pytest.mark.cluster
def test_namespace_and_configmap_round_trip(kube_api: Cluster) -> None:
    api = client.CoreV1Api(kube_api.api_client())
    ns = f"t-{uuid.uuid4().hex[:8]}"
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    api.create_namespaced_config_map(
        ns,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="flow"), data={"flow.yaml": "version: 1\n"}
        ),
    )
    got: Any = api.read_namespaced_config_map("flow", ns)
    assert got.data == {"flow.yaml": "version: 1\n"}
    assert got.metadata.uid and got.metadata.resource_version


@pytest.mark.cluster
def test_cli_versions_are_the_pinned_ones(kube_api: Cluster) -> None:
    k8s = _pinned("K8S_VERSION")
    version = json.loads(kube_api.kubectl("version", "-o", "json").stdout)
    assert version["clientVersion"]["gitVersion"] == k8s
    if kube_api.__class__.__name__ == "LocalControlPlane":
        assert version["serverVersion"]["gitVersion"] == k8s
    helm = kube_api.helm("version", "--template", "{{.Version}}").stdout.strip()
    assert helm == _pinned("HELM_VERSION")


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "example.invalid/never-pulled:1",
                            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}},
                        }
                    ]
                },
            },
        },
    }


@pytest.mark.fullcluster
def test_deployment_pods_become_ready_and_gc_cascades(kube_full: Cluster) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    kube_full.kubectl("create", "namespace", ns)
    kube_full.kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(_deployment("web")))
    apps = client.AppsV1Api(kube_full.api_client())
    core = client.CoreV1Api(kube_full.api_client())

    def ready() -> bool:
        dep: Any = apps.read_namespaced_deployment("web", ns)
        return bool(dep.status.ready_replicas == 2)

    wait_until(ready, 90, "2 ready replicas")
    pods: list[Any] = core.list_namespaced_pod(ns, label_selector="app=web").items
    assert len(pods) == 2
    assert all(p.status.phase == "Running" for p in pods)
    assert all(p.spec.node_name and p.spec.node_name.startswith("kwok-node-") for p in pods)
    assert apps.list_namespaced_replica_set(ns, label_selector="app=web").items

    apps.delete_namespaced_deployment("web", ns, propagation_policy="Background")
    wait_until(
        lambda: not apps.list_namespaced_replica_set(ns, label_selector="app=web").items,
        90,
        "ReplicaSets garbage-collected",
    )
    wait_until(
        lambda: not core.list_namespaced_pod(ns, label_selector="app=web").items,
        90,
        "Pods garbage-collected",
    )

    kube_full.kubectl("delete", "namespace", ns, "--wait=false")
    wait_until(
        lambda: kube_full.kubectl("get", "namespace", ns, check=False).returncode != 0,
        120,
        "namespace deleted by the namespace controller",
    )


@pytest.mark.cluster
def test_existing_cluster_opt_in(kube_api: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """USE_EXISTING_CLUSTER=true + KUBECONFIG makes the fixtures use that cluster, not a new one."""
    monkeypatch.setenv("USE_EXISTING_CLUSTER", "true")
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    existing = controlplane.from_environment(full=False)
    assert isinstance(existing, controlplane.ExistingCluster)
    ns = f"t-{uuid.uuid4().hex[:8]}"
    existing.kubectl("create", "namespace", ns)
    assert (
        kube_api.kubectl("get", "namespace", ns, "-o", "name").stdout.strip() == f"namespace/{ns}"
    )
    existing.stop()  # a no-op: the user's cluster keeps running
    assert kube_api.kubectl("get", "namespace", ns, check=False).returncode == 0
