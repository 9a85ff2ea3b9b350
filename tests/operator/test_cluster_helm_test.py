"""`helm test` on the local control plane. The chart's test hook (`supportbot-operator selftest`
in a Pod with its own ServiceAccount) is rendered by the installed release (`helm get hooks`),
accepted by the API server (server-side dry run), and then run for real: `helm test` creates
the hook's ServiceAccount, RBAC and Pod; the local kubelet (hack/supportbot_dev/localkubelet.py)
runs the Pod's command the way it runs every pod here (its ServiceAccount's token, its env) and
reports the phase back, which is what `helm test` waits for. The operator is a local process
with the chart ServiceAccount's token, serving the admission webhook in URL mode.

What the harness substitutes: the image (the command runs from this checkout's virtualenv), and
the health URL (the Service's cluster DNS name is unreachable here, so the Pod's
SUPPORTBOT_SELFTEST_HEALTH_URL is pointed at the operator's local health port)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from supportbot_dev.controlplane import Cluster
from supportbot_dev.localkubelet import LocalKubelet
from supportbot_operator.testing import (
    Kubectl,
    OperatorProcess,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.cluster


@dataclass
class Release:
    cluster: Cluster
    k: Kubectl
    name: str
    system: str
    tenants: str
    op: OperatorProcess
    tmp: Path

    @property
    def test_pod(self) -> str:
        return f"{self.name}-supportbot-operator-test"

    def hooks(self) -> list[dict[str, Any]]:
        out = self.cluster.helm("get", "hooks", self.name, "-n", self.system).stdout
        return [d for d in yaml.safe_load_all(out) if d]

    def helm_test(self) -> tuple[int, str, str]:
        """`helm test`, with the local kubelet running the hook Pod it creates."""
        argv = [str(self.cluster.bins.helm), "test", self.name, "-n", self.system]
        helm = subprocess.Popen(
            [*argv, "--timeout=120s"],
            env=self.cluster.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(lambda: self._pending_pod(), 60, "helm test to create the hook Pod")
            kubelet = LocalKubelet(
                self.cluster,
                self.system,
                label_selector="app.kubernetes.io/name=supportbot-operator-test",
                workdir=self.tmp / f"pods-{uuid.uuid4().hex[:6]}",
                extra_env={
                    "SUPPORTBOT_SELFTEST_HEALTH_URL": f"http://127.0.0.1:{self.op.health_port}/readyz"
                },
            )
            code, output = kubelet.run_to_completion(self.test_pod, timeout=120)
            stdout, stderr = helm.communicate(timeout=60)
        finally:
            if helm.poll() is None:
                helm.kill()
                helm.wait()
        assert (helm.returncode == 0) == (code == 0), (code, output, stdout, stderr)
        return code, output, stdout + stderr

    def _pending_pod(self) -> bool:
        pod = self.k.get("pod", self.test_pod, self.system)
        return (
            pod is not None
            and pod["metadata"].get("deletionTimestamp") is None
            and (pod.get("status", {}).get("phase") in (None, "Pending"))
        )


@pytest.fixture(scope="module")
def release(
    api_cluster: Cluster,
    make_namespace_module: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
    install_chart: Callable[..., str],
    start_webhook_operator: Callable[..., OperatorProcess],
) -> Iterator[Release]:
    system, tenants = make_namespace_module("htsys"), make_namespace_module("ht")
    port = free_port()
    name = install_chart(
        system,
        f"--set=watchNamespaces={{{tenants}}}",
        f"--set=admissionWebhook.url=https://127.0.0.1:{port}",
        prefix="ht",
    )
    k = Kubectl(api_cluster.kubectl)
    tmp = tmp_path_factory.mktemp("helmtest")
    op = start_webhook_operator(name, system, tenants, port, tmp)
    try:
        yield Release(api_cluster, k, name, system, tenants, op, tmp)
    finally:
        op.stop()
        api_cluster.helm("uninstall", name, "-n", system, "--wait")


def test_the_release_carries_valid_test_hooks(release: Release) -> None:
    hooks = release.hooks()
    kinds = sorted(d["kind"] for d in hooks)
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Pod",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]
    for doc in hooks:
        assert doc["metadata"]["annotations"]["helm.sh/hook"] == "test", doc["kind"]
        release.cluster.kubectl(
            "apply", "--dry-run=server", "-f", "-", stdin=json.dumps(doc)
        )  # valid for this API server
    (pod,) = (d for d in hooks if d["kind"] == "Pod")
    selector = (
        release.k.get("deployment", f"{release.name}-supportbot-operator", release.system) or {}
    )["spec"]["selector"]["matchLabels"]
    labels = pod["metadata"]["labels"]
    assert not all(labels.get(k) == v for k, v in selector.items()), (
        "the operator's ReplicaSet must not adopt the test Pod"
    )
    (role,) = (d for d in hooks if d["kind"] == "Role")
    assert role["metadata"]["namespace"] == release.tenants
    assert role["rules"] == [
        {"apiGroups": ["supportbot.dev"], "resources": ["supportbots"], "verbs": ["create"]}
    ]
    (cluster_role,) = (d for d in hooks if d["kind"] == "ClusterRole")
    assert cluster_role["rules"][0]["resourceNames"] == ["supportbots.supportbot.dev"]
    assert cluster_role["rules"][0]["verbs"] == ["get"]


def test_helm_test_passes_on_a_working_install_and_fails_on_a_broken_one(
    release: Release,
) -> None:
    wait_for(lambda: release.op.healthy(), 30, "the operator")
    code, output, helm_output = release.helm_test()
    assert code == 0, output
    lines = output.splitlines()
    for check in ("health", "crd", "admitted", "rejected"):
        assert any(line.startswith(f"ok   {check}:") for line in lines), (check, output)
    assert "Phase:          Succeeded" in helm_output or "Succeeded" in helm_output, helm_output
    assert release.k.get("supportbot", "selftest", release.tenants) is None
    assert not release.k.items("supportbots", release.tenants), "dry runs only: nothing created"

    # The operator down: its webhook (failurePolicy Fail) refuses the sample, health is gone.
    release.op.stop()
    code, output, helm_output = release.helm_test()
    assert code == 1, output
    assert "FAIL health:" in output and "FAIL admitted:" in output, output
    assert "ok   crd:" in output and "ok   rejected:" in output, output
    assert "Failed" in helm_output, helm_output
